#!/usr/bin/env bash
# The checker database for sqlx's compile-time-checked queries: a database (default
# `xiaobao_sqlx`) with the control migrations in schema `control`, the audit anchor in
# `audit_anchor`, and the tenant migrations in a template tenant schema `t_template`, as the
# service lays them out (crates/db/src/{catalog,provision,anchor}.rs). Its search_path is the
# template schema only, as inside a tenant transaction: unqualified tenant tables resolve,
# `control.` and `audit_anchor.` are named, and a query that names a control table without
# `control.` fails here as it would at run time.
#
# Made anew on every run (idempotent; takes a second), with psql only, so it works while the
# workspace does not compile and on a fresh machine. Prints the database's URL on stdout:
#
#   DATABASE_URL="$(infra/sqlx/prepare-db.sh)" cargo sqlx prepare --workspace -- --all-targets
#
# XIAOBAO_SQLX_ADMIN_URL  a superuser connection to the cluster (default: the test cluster's
#                         XIAOBAO_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres)
# XIAOBAO_SQLX_DATABASE   the checker database's name (default xiaobao_sqlx)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ADMIN_URL="${XIAOBAO_SQLX_ADMIN_URL:-${XIAOBAO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
DB="${XIAOBAO_SQLX_DATABASE:-xiaobao_sqlx}"
TEMPLATE_SCHEMA=t_template

log() { printf 'prepare-db.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[[ $DB =~ ^[a-z][a-z0-9_]{0,62}$ ]] || die "XIAOBAO_SQLX_DATABASE must be a plain lowercase name"
command -v psql >/dev/null 2>&1 || die "psql is missing (Debian: apt-get install postgresql-client)"

# The same cluster, database $DB (query parameters kept).
base="${ADMIN_URL%%\?*}"
params="${ADMIN_URL#"$base"}"
[[ $base == postgres://*/* || $base == postgresql://*/* ]] ||
  die "XIAOBAO_SQLX_ADMIN_URL must look like postgres://user@host:port/database"
DB_URL="${base%/*}/$DB$params"

psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -w -v ON_ERROR_STOP=1 -d "$ADMIN_URL" "$@"; }
# psql_db SEARCH_PATH ARGS... — one connection to the checker database with that search_path.
psql_db() {
  local path=$1
  shift
  PGOPTIONS="-c search_path=$path -c client_min_messages=warning" \
    psql -X -q -w -v ON_ERROR_STOP=1 -d "$DB_URL" "$@"
}

# The ledger sqlx's migrator keeps in each schema it migrates (sqlx-postgres 0.8's definition),
# so queries reading it are checked too.
LEDGER="create table if not exists _sqlx_migrations (
    version bigint primary key,
    description text not null,
    installed_on timestamptz not null default now(),
    success boolean not null,
    checksum bytea not null,
    execution_time bigint not null
);"

# apply SCHEMA DIR — each migration in its own transaction, in file-name order, as sqlx does.
apply() {
  local schema=$1 dir=$2 file version name
  psql_db "$schema" -c "$LEDGER"
  for file in "$ROOT/$dir"/*.sql; do
    name="$(basename "$file" .sql)"
    version="$((10#${name%%_*}))"
    psql_db "$schema" -1 -f "$file" \
      -c "insert into _sqlx_migrations (version, description, success, checksum, execution_time)
          values ($version, '${name#*_}', true, '\x'::bytea, 0)" \
      >/dev/null || die "migration $dir/$name.sql failed in schema $schema"
  done
}

# Checks the cluster answers before dropping anything.
psql_admin -tAc 'select 1' >/dev/null || die "cannot connect to ${ADMIN_URL%%@*}@… as a superuser"

log "making database $DB anew"
psql_admin -c "drop database if exists \"$DB\" with (force)"
psql_admin -c "create database \"$DB\""

# The control schema, as crates/db/src/catalog.rs (migrate_control) makes it.
psql_db control -c 'create schema if not exists control; revoke all on schema control from public'
apply control migrations/control

# The audit anchor, which tenant migration 0012's trigger calls (crates/db/src/anchor.rs).
psql_db pg_catalog -f "$ROOT/crates/db/sql/audit_anchor_install.sql" \
  -f "$ROOT/crates/db/sql/audit_anchor_advance.sql"

# A template tenant schema, as crates/db/src/provision.rs makes one.
psql_db pg_catalog -c "create schema $TEMPLATE_SCHEMA; revoke all on schema $TEMPLATE_SCHEMA from public"
apply "$TEMPLATE_SCHEMA" migrations/tenant

psql_admin -c "alter database \"$DB\" set search_path = $TEMPLATE_SCHEMA"
log "database $DB ready: control migrations in control, tenant migrations in $TEMPLATE_SCHEMA"
printf '%s\n' "$DB_URL"
