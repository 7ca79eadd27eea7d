#!/usr/bin/env bash
# Regenerates .sqlx/ (the query data sqlx's macros check against when SQLX_OFFLINE=true, as
# .cargo/config.toml sets) from the checker database: run it after adding or changing a
# checked query or a migration, and commit .sqlx/ with the change.
#
#   infra/sqlx/prepare.sh           rewrite .sqlx/
#   infra/sqlx/prepare.sh --check   fail when .sqlx/ is stale (what infra/test/check-sqlx.sh runs)
#
# Installs sqlx-cli into var/tools (infra/sqlx/install-cli.sh) and makes the checker database
# anew (infra/sqlx/prepare-db.sh; its variables apply). Compiles the workspace with
# `cargo check --workspace --all-targets` against that database (`--workspace` for cargo too:
# the workspace's default-members would leave the other crates' tests out).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

check=()
case ${1:-} in
  "") ;;
  --check) check=(--check) ;;
  *)
    printf 'usage: %s [--check]\n' "$0" >&2
    exit 2
    ;;
esac

bin="$(infra/sqlx/install-cli.sh)"
url="$(infra/sqlx/prepare-db.sh)"
PATH="$bin:$PATH" DATABASE_URL="$url" cargo sqlx prepare "${check[@]}" --workspace -- --workspace --all-targets
