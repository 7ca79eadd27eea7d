#!/usr/bin/env bash
# Fails when .sqlx/ (the committed query data of sqlx's checked queries) is stale: a checked
# query or a migration changed without `infra/sqlx/prepare.sh` being run. Needs the test
# services (PostgreSQL: the checker database is made on the cluster of
# XIAOBAO_TEST_DATABASE_URL). Installs sqlx-cli into var/tools on the first run.
#
#   infra/test/check-sqlx.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if ! infra/sqlx/prepare.sh --check; then
  printf 'check-sqlx.sh: .sqlx/ does not match the queries and migrations (or they do not compile against the checker database);\n' >&2
  printf 'check-sqlx.sh: run infra/sqlx/prepare.sh and commit .sqlx/ (docs/ARCHITECTURE.md, "Checked SQL")\n' >&2
  exit 1
fi
printf 'check-sqlx.sh: .sqlx/ is up to date with every checked query\n'
