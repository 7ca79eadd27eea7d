#!/usr/bin/env bash
# Installs sqlx-cli 0.8 (cargo sqlx) from crates.io into the project-local root var/tools, once:
# later runs find it there and install nothing. Its build directory is var/tools/build, so a
# reinstall (another 0.8.x) reuses what was compiled. Prints the directory holding `cargo-sqlx`.
#
#   PATH="$(infra/sqlx/install-cli.sh):$PATH" cargo sqlx --version
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="$ROOT/var/tools"
BIN="$TOOLS/bin"
VERSION="~0.8"

log() { printf 'install-cli.sh: %s\n' "$*" >&2; }

installed() {
  [[ -x $BIN/cargo-sqlx && -x $BIN/sqlx ]] && [[ "$("$BIN/sqlx" --version 2>/dev/null || true)" == "sqlx-cli 0.8."* ]]
}

if ! installed; then
  command -v cargo >/dev/null 2>&1 || {
    log "error: cargo is not on PATH"
    exit 1
  }
  log "installing sqlx-cli $VERSION into ${TOOLS#"$ROOT"/} (first run only; a few minutes)"
  mkdir -p "$TOOLS"
  CARGO_TARGET_DIR="$TOOLS/build" cargo install sqlx-cli --version "$VERSION" \
    --no-default-features --features postgres,rustls --locked --root "$TOOLS" >&2 || {
    log "error: cargo install sqlx-cli failed (messages above)"
    exit 1
  }
  installed || {
    log "error: $BIN/sqlx does not run as sqlx-cli 0.8"
    exit 1
  }
fi
printf '%s\n' "$BIN"
