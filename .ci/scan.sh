#!/usr/bin/env bash
# Security scanning (SECURITY.md, "Security scanning"): run by .ci/run, and by hand the same way.
#
#   .ci/scan.sh             every check below; exits non-zero when one fails
#   .ci/scan.sh --baseline  refresh .secrets.baseline after a change, then review what it found
#
# 1. cargo deny check licenses bans sources (deny.toml), over cao, the fake agent and every crate
#    they depend on: licences, wildcard versions, duplicate crates (reported only), and sources
#    (the crates registry only).
# 2. cargo deny check advisories: RustSec's advisory database. It is a git repository that
#    cargo-deny clones from its own default address; where that cannot be fetched, one line says
#    so and the rest still gates (CAO_REQUIRE_ADVISORIES=1 makes it a failure instead).
# 3. detect-secrets over every file git tracks or would add: a secret that is not in the
#    committed, reviewed baseline (.secrets.baseline) fails.
#
# The tools are installed at pinned versions by their own package clients (cargo install,
# pip in a venv), which take the registry from their own configuration, into git-ignored
# folders of this checkout: .ci/tools/ (cargo-deny) and .ci/scan-venv/ (detect-secrets).
# The advisory database goes to target/. Outside the repository, only cargo's own download
# cache ($CARGO_HOME/registry, as for any build) gets cargo-deny's sources.
set -euo pipefail
cd "$(dirname "$0")/.."

CAO_CARGO_DENY_VERSION=0.20.2
venv=.ci/scan-venv
baseline=.secrets.baseline
work=target/scan
# How the baseline is made (and so how the hook scans, since it takes its settings from the
# baseline). Two of detect-secrets' filters are off, and both only make the scan report more:
# - inline `pragma: allowlist secret` comments are not honoured: the baseline is the one
#   allowlist, and every entry in it is reviewed (check_baseline);
# - the indirect-reference filter (which drops `key = get_key()`-like lines): its regular
#   expression backtracks for seconds on the long lines of the screen fixtures (a full scan
#   took 75 s instead of 15 s).
# --no-verify: nothing found is sent to the service it belongs to for a check.
unwanted_filters=(
  detect_secrets.filters.allowlist.is_line_allowlisted
  detect_secrets.filters.heuristic.is_indirect_reference
  detect_secrets.filters.common.is_ignored_due_to_verification_policies
)
detect_secrets_args=(--no-verify
  --disable-filter "${unwanted_filters[0]}" --disable-filter "${unwanted_filters[1]}")

say() { printf '%s\n' "$*"; }
failed=()

install_cargo_deny() {
  deny=.ci/tools/bin/cargo-deny
  local want="cargo-deny $CAO_CARGO_DENY_VERSION"
  [ "$("$deny" --version 2>/dev/null)" = "$want" ] && return 0
  if command -v cargo-deny >/dev/null 2>&1 && [ "$(cargo-deny --version 2>/dev/null)" = "$want" ]; then
    deny=$(command -v cargo-deny)
    return 0
  fi
  say "== installing cargo-deny $CAO_CARGO_DENY_VERSION from the crates registry into .ci/tools/ (a build of a few minutes)"
  local started=$SECONDS
  if ! cargo install --locked --quiet --root .ci/tools "cargo-deny@$CAO_CARGO_DENY_VERSION"; then
    say "!! scan: cargo install of cargo-deny $CAO_CARGO_DENY_VERSION failed (see above)"
    exit 1
  fi
  say "   built in $((SECONDS - started))s"
}

install_detect_secrets() {
  # The venv is remade whenever the pinned requirements change.
  if cmp -s .ci/scan-requirements.txt "$venv/.cao-requirements.txt" 2>/dev/null &&
    [ -x "$venv/bin/detect-secrets-hook" ]; then
    return 0
  fi
  say "== installing detect-secrets from PyPI into $venv/ (.ci/scan-requirements.txt)"
  local started=$SECONDS
  rm -rf "$venv"
  if ! python3 -m venv "$venv" ||
    ! "$venv/bin/python" -m pip install --quiet --no-input --no-cache-dir -r .ci/scan-requirements.txt; then
    say "!! scan: could not install detect-secrets with pip (see above)"
    exit 1
  fi
  cp .ci/scan-requirements.txt "$venv/.cao-requirements.txt"
  say "   installed in $((SECONDS - started))s"
}

# The reviewed baseline: every entry must have been audited as not a secret (is_secret false),
# and none of the unwanted filters may be back on.
check_baseline() {
  "$venv/bin/python" - "$baseline" "${unwanted_filters[@]}" <<'PY'
import json, sys
path, unwanted = sys.argv[1], set(sys.argv[2:])
try:
    with open(path) as f:
        data = json.load(f)
except (OSError, ValueError) as e:
    print(f"!! scan: {path} cannot be read: {e}")
    sys.exit(1)
bad = 0
for f in data.get("filters_used", []):
    if f.get("path") in unwanted:
        print(f"!! scan: {path} turns on the filter {f['path']}; refresh it with .ci/scan.sh --baseline")
        bad = 1
for filename, entries in sorted(data.get("results", {}).items()):
    for e in entries:
        verdict = e.get("is_secret")
        if verdict is False:
            continue
        state = "marked as a real secret" if verdict else "not reviewed"
        print(f"!! scan: {filename}:{e.get('line_number')}: {e.get('type')} in {path} is {state}")
        bad = 1
if bad:
    print(f"   every entry of {path} must be reviewed as a false positive (detect-secrets audit {path});")
    print("   a real secret is removed from the tree and revoked, not listed")
sys.exit(bad)
PY
}

scan_secrets() {
  check_baseline || return 1
  # Tracked files and new ones git would add (a local run sees them before the commit does).
  local files=() f
  while IFS= read -r -d '' f; do
    [ -f "$f" ] && [ ! -L "$f" ] && [ "$f" != "$baseline" ] && files+=("$f")
  done < <(git ls-files -z --cached --others --exclude-standard)
  # The hook rewrites its baseline when line numbers moved: give it a copy (of the same name,
  # which it skips), so a scan never changes the checkout.
  rm -rf "$work/baseline" && mkdir -p "$work/baseline"
  cp "$baseline" "$work/baseline/.secrets.baseline"
  local rc=0 out
  out=$("$venv/bin/detect-secrets-hook" --baseline "$work/baseline/.secrets.baseline" "${files[@]}" 2>&1) || rc=$?
  case $rc in
    0) say "   ${#files[@]} files, no secret outside the baseline" ;;
    # (The hook's own words for this case ask to `git add` the copy.)
    3) say "   ${#files[@]} files, no secret outside the baseline (its line numbers are out of date: .ci/scan.sh --baseline)" ;;
    *)
      printf '%s\n' "$out"
      say "   a test fixture? .ci/scan.sh --baseline adds it for review (SECURITY.md, \"Security scanning\");"
      say "   inline 'pragma: allowlist secret' comments are not honoured here"
      return 1
      ;;
  esac
}

refresh_baseline() {
  install_detect_secrets
  say "== refreshing $baseline (files git tracks: git add new ones first)"
  "$venv/bin/detect-secrets" scan "${detect_secrets_args[@]}" --baseline "$baseline"
  if [ -t 0 ] && [ -t 1 ]; then
    "$venv/bin/detect-secrets" audit "$baseline"
  else
    say "   review the new entries: $venv/bin/detect-secrets audit $baseline"
  fi
}

if [ "${1:-}" = "--baseline" ]; then
  refresh_baseline
  exit 0
elif [ $# -gt 0 ]; then
  say "usage: .ci/scan.sh [--baseline]" >&2
  exit 2
fi

started=$SECONDS
mkdir -p "$work"
install_cargo_deny
install_detect_secrets

say "== cargo deny check licenses bans sources ($("$deny" --version))"
if ! "$deny" --workspace --locked check --hide-inclusion-graph licenses bans sources; then
  say "== the same, with the inclusion graphs (what pulls each crate in)"
  "$deny" --workspace --locked check licenses bans sources || true
  failed+=("licences/bans/sources")
fi

say "== cargo deny check advisories"
advisories=checked
fetch_rc=0
fetch_log=$(timeout 300 "$deny" fetch db 2>&1) || fetch_rc=$?
if [ "$fetch_rc" = 0 ]; then
  # The database just fetched, and cargo's own index cache for yanked versions: no second fetch.
  "$deny" --workspace --locked --offline check advisories || failed+=(advisories)
else
  # cargo-deny's last line says why (git's own message), without its time stamp.
  reason=$(printf '%s\n' "$fetch_log" | grep -v '^[[:space:]]*$' | tail -n 1 |
    sed 's/^[0-9-]* [0-9:]* \[[A-Z]*\] //' || true)
  [ "$fetch_rc" = 124 ] && reason="no answer in 300 s"
  say "advisories: NOT CHECKED: the RustSec advisory database could not be fetched (${reason:-no reason given}); licences, bans, sources and secrets still gate"
  advisories="not checked"
  [ "${CAO_REQUIRE_ADVISORIES:-}" = 1 ] && failed+=("advisories (CAO_REQUIRE_ADVISORIES=1)")
fi

say "== secret scan: detect-secrets $("$venv/bin/detect-secrets" --version) against $baseline"
scan_secrets || failed+=(secrets)

if [ "${#failed[@]}" -gt 0 ]; then
  say "!! scan FAILED: ${failed[*]} ($((SECONDS - started))s; advisories: $advisories)"
  exit 1
fi
say "== scan ok in $((SECONDS - started))s: licences, bans, sources, secrets; advisories: $advisories"
