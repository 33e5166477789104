#!/bin/sh
# End-to-end tests of `gemma4c serve` with real client SDKs (node:test).
#
#   sh tests/e2e/run.sh BIN [SUITE]
#
# BIN    the gemma4c binary (e.g. build/gemma4c)
# SUITE  sdk (default: openai SDK, AI SDK, server options, raw HTTP), replay (captured
#        OpenCode / Continue requests), clients (the real OpenCode and Continue CLIs,
#        see clients/), all (sdk + replay), or one test file name (e.g. raw_http).
#
# Installs the npm dependencies (npm ci) when node_modules is missing or stale.
# Exit 77 (ctest SKIP_RETURN_CODE) when node/npm are missing, the dependencies cannot be
# installed (offline), or BIN has no `serve` command (built without libmicrohttpd).
# Environment: G4_E2E_THREADS (threads per server, default 2), G4_E2E_REPLAY_MODEL.
set -u
if [ $# -lt 1 ]; then
  echo "usage: sh $0 BIN [sdk|replay|clients|all|FILE]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
case $1 in
  /*) BIN=$1 ;;
  *) BIN=$(pwd)/$1 ;;
esac
SUITE=${2:-sdk}

skip() { echo "e2e: skipped: $*"; exit 77; }

command -v node >/dev/null 2>&1 || skip "node not found"
command -v npm >/dev/null 2>&1 || skip "npm not found"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || skip "node $major is older than 20"
if [ ! -x "$BIN" ]; then
  echo "e2e: $BIN is not an executable" >&2
  exit 1
fi
"$BIN" serve --help 2>&1 | grep -q -- '--port' || skip "$BIN has no 'serve' command (built without libmicrohttpd?)"

# npm ci into DIR unless its node_modules is up to date with the lock file. A lock
# (flock, when present) keeps parallel ctest runs from installing at the same time.
# opencode-ai declares per-platform optional packages with empty versions, which `npm ci`
# rejects as "missing from lock file" on a clean checkout; `npm install` (same pinned
# top-level versions, lock file left unchanged) is the fallback.
NPM_INSTALL="npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --no-save --loglevel=error"
install_deps() {
  dir=$1
  stamp=$dir/node_modules/.package-lock.json
  if [ -f "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ]; then
    return 0
  fi
  echo "e2e: npm ci in $dir"
  if command -v flock >/dev/null 2>&1; then
    flock "$dir/.npm-install.lock" sh -c "cd '$dir' && { [ -f '$stamp' ] && [ ! package-lock.json -nt '$stamp' ] || { $NPM_INSTALL; }; }"
  else
    (cd "$dir" && sh -c "$NPM_INSTALL")
  fi
}

if [ "$SUITE" = clients ]; then
  install_deps "$here/clients" || skip "cannot install the client packages (npm ci failed: offline?)"
else
  install_deps "$here" || skip "cannot install the npm dependencies (npm ci failed: offline?)"
fi

case $SUITE in
  sdk) files="openai_sdk.test.mjs server_options.test.mjs ai_sdk.test.mjs raw_http.test.mjs media.test.mjs" ;;
  replay) files="replay.test.mjs" ;;
  clients) files="clients/clients.test.mjs" ;;
  all) files="openai_sdk.test.mjs server_options.test.mjs ai_sdk.test.mjs raw_http.test.mjs media.test.mjs replay.test.mjs" ;;
  *.mjs) files=$SUITE ;;
  *) files=$SUITE.test.mjs ;;
esac

cd "$here" || exit 1
export G4_BIN="$BIN"
# One file at a time: the machines have 2 cores and some tests measure latencies.
# shellcheck disable=SC2086
exec node --test --test-concurrency=1 --test-reporter=spec $files
