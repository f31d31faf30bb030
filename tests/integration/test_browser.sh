#!/usr/bin/env bash
# Browser test of the web page (tests/browser/web_page.test.mjs): `ragc serve` on a temp data dir,
# driven by Debian's headless Chromium through playwright-core. Fails (never skips) when Chromium
# or Node.js is missing. Screenshots: $RAGC_BUILD_DIR (default: the build dir holding $RAGC_BIN,
# else $RAGC_TMP) /browser-screenshot.png and /browser-screenshot-phone.png.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
SRC=$(cd "$HERE/../.." && pwd)
BROWSER_DIR="$SRC/tests/browser"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

missing=""
[ -x "$CHROMIUM" ] || missing+=" chromium ($CHROMIUM)"
command -v node >/dev/null 2>&1 || missing+=" node"
command -v npm >/dev/null 2>&1 || missing+=" npm"
if [ -n "$missing" ]; then
  not_ok "browser test needs:$missing; install them with scripts/install-deps.sh (Debian packages chromium, nodejs, npm)"
  finish; exit 1
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  not_ok "browser test needs Node.js >= 20 for playwright-core, found $(node --version)"
  finish; exit 1
fi

# playwright-core, pinned by tests/browser/package-lock.json; no browser download (we use Debian's).
if [ ! -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ]; then
  echo "# installing playwright-core with npm ci (tests/browser/package-lock.json)"
  if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$BROWSER_DIR" --no-audit --no-fund >"$WORK/npm.log" 2>&1; then
    not_ok "npm ci --prefix tests/browser failed: $(tail -20 "$WORK/npm.log")"
    finish
  fi
fi

if [ -n "${RAGC_BUILD_DIR:-}" ]; then
  SHOT_DIR=$RAGC_BUILD_DIR
elif [ -f "$(dirname "$RAGC_BIN")/CMakeCache.txt" ]; then
  SHOT_DIR=$(dirname "$RAGC_BIN")
else
  SHOT_DIR=$TMP_ROOT
fi
mkdir -p "$SHOT_DIR"

set +e
RAGC_SHOT_DIR="$SHOT_DIR" RAGC_TMP="$WORK" CHROMIUM="$CHROMIUM" \
  timeout 240 node "$BROWSER_DIR/web_page.test.mjs" >"$WORK/browser.log" 2>&1
rc=$?
set -e
cat "$WORK/browser.log"
PASSES=$((PASSES + $(grep -c '^ok - ' "$WORK/browser.log" || true)))
FAILS=$((FAILS + $(grep -c '^not ok - ' "$WORK/browser.log" || true)))
if [ "$rc" -ne 0 ] && ! grep -q '^not ok - ' "$WORK/browser.log"; then
  not_ok "browser test exited with status $rc"
fi
finish
