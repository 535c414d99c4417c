# Sourced by .ci/run: installs the real agent CLIs that tests/real_clis.rs drives, from the npm
# registry at pinned versions, into .ci/clis/ (git-ignored), and exports the CAO_*_BIN
# variables that point cao and the tests at the real binaries inside node_modules.
#
# Without npm (or when the install fails) it says so loudly and the real-CLI tests skip, each
# with a line naming the CLI; CAO_REQUIRE_REAL_CLIS=1 makes that a CI failure instead.
# CAO_CLIS=latest installs the newest releases instead of the pinned ones (with CAO_DRIFT=1,
# that is the drift check against what users are about to get).

# Pinned versions: the ones the tests and recorded screens were last verified with.
CAO_CLI_PACKAGES=(
  "@anthropic-ai/claude-code@2.1.197"
  "@openai/codex@0.169.0"
  "@google/gemini-cli@0.61.0"
  "opencode-ai@1.18.33"
  "@github/copilot@1.0.102"
)

cao_clis_unavailable() {
  echo "!! ci: $1" >&2
  echo "!! ci: the real-CLI tests (tests/real_clis.rs) will be SKIPPED" >&2
  if [ "${CAO_REQUIRE_REAL_CLIS:-}" = "1" ]; then
    echo "!! ci: CAO_REQUIRE_REAL_CLIS=1, so this is a failure" >&2
    exit 1
  fi
}

cao_install_clis() {
  local prefix=.ci/clis
  local packages=("${CAO_CLI_PACKAGES[@]}")
  if [ "${CAO_CLIS:-}" = "latest" ]; then
    packages=("${packages[@]/%@[0-9]*/@latest}")
  fi
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    cao_clis_unavailable "npm/node not found; install Node.js 20+ with npm to run the real CLIs"
    return 0
  fi
  local node_major
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$node_major" -lt 20 ]; then
    cao_clis_unavailable "node $(node --version) is too old for the CLIs (need 20+)"
    return 0
  fi

  # Skip the registry when the pinned versions are already in place.
  local missing=0 spec name version installed
  for spec in "${packages[@]}"; do
    name=${spec%@*}
    version=${spec##*@}
    installed=$(node -p "try { require('./$prefix/node_modules/$name/package.json').version } catch { '' }")
    [ "$installed" = "$version" ] || missing=1
  done
  if [ "$missing" = 1 ]; then
    echo "== installing agent CLIs into $prefix: ${packages[*]}"
    mkdir -p "$prefix"
    # Install scripts are not needed (the platform binaries ship as packages) and stay off.
    if ! npm install --prefix "$prefix" --no-save --no-audit --no-fund --ignore-scripts \
      --loglevel=error "${packages[@]}" >"$prefix/install.log" 2>&1; then
      tail -n 20 "$prefix/install.log" >&2
      cao_clis_unavailable "npm install of the agent CLIs failed (log: $prefix/install.log)"
      return 0
    fi
  fi

  local arch
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) arch=unknown ;;
  esac
  local nm="$PWD/$prefix/node_modules"
  local var path found=0
  # Claude Code and OpenCode: the native binary in their platform package (npm skips the
  # postinstall that would link it); the others: their launcher in .bin.
  for entry in \
    "CAO_CLAUDE_CODE_BIN=$nm/@anthropic-ai/claude-code-linux-$arch/claude" \
    "CAO_CODEX_BIN=$nm/.bin/codex" \
    "CAO_GEMINI_CLI_BIN=$nm/.bin/gemini" \
    "CAO_OPENCODE_BIN=$nm/opencode-linux-$arch/bin/opencode" \
    "CAO_COPILOT_CLI_BIN=$nm/.bin/copilot"; do
    var=${entry%%=*}
    path=${entry#*=}
    if [ -x "$path" ]; then
      export "$var=$path"
      found=$((found + 1))
      echo "   $var=$path"
    else
      echo "!! ci: $var: no executable at $path; that CLI's tests will be skipped" >&2
    fi
  done
  if [ "$found" -lt 5 ] && [ "${CAO_REQUIRE_REAL_CLIS:-}" = "1" ]; then
    echo "!! ci: CAO_REQUIRE_REAL_CLIS=1 and only $found of 5 CLIs are usable" >&2
    exit 1
  fi
}

cao_install_clis
