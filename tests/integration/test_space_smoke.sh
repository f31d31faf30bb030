#!/usr/bin/env bash
# The Space's start command (read from the Dockerfile), run as an unprivileged user with
# SPACE_ID set: healthz, readyz, upload, a cited answer, clean SIGTERM (scripts/space-smoke.sh).
set -euo pipefail
: "${RAGC_BIN:?}" "${RAGC_SOURCE_DIR:?}" "${RAGC_SHARED_DIR:?}"
exec bash "$RAGC_SOURCE_DIR/scripts/space-smoke.sh" "$RAGC_BIN"
