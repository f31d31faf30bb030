#!/usr/bin/env bash
# Installs the Debian (bookworm) packages ragc builds, tests and benchmarks with.
# Idempotent: packages already present are left alone. Needs root or sudo.
# usage: scripts/install-deps.sh [--build-only]   (--build-only: no test/bench packages)
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake pkg-config git
  libmupdf-dev libopenjp2-7-dev libjbig2dec0-dev libjpeg-dev libharfbuzz-dev
  libfreetype-dev libbrotli-dev libmujs-dev libpng-dev libgumbo-dev
  libutf8proc-dev libstemmer-dev libsqlite3-dev libcurl4-openssl-dev
  libjansson-dev libyaml-dev libmicrohttpd-dev libopenblas-dev libxxhash-dev
  libcmocka-dev
)
# Used by the test suite: integration tests drive the CLI and server with bash, curl and python3;
# the browser test drives Debian's Chromium with playwright-core (npm); bench/ uses wrk and
# python3-stemmer (the Python BM25 reference); python3-torch is the reference for local models;
# clang + libclang-rt-14-dev build the libFuzzer targets (scripts/fuzz.sh).
TEST_PKGS=( python3 jq curl chromium wrk python3-stemmer python3-torch python3-numpy clang libclang-rt-14-dev )
if ! command -v node >/dev/null 2>&1; then
  TEST_PKGS+=( nodejs npm )
fi
if [ "${1:-}" = "--build-only" ]; then
  TEST_PKGS=()
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]+"${TEST_PKGS[@]}"}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#BUILD_PKGS[@]} build and ${#TEST_PKGS[@]} test packages present"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
