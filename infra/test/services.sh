#!/usr/bin/env bash
# Services the test suite needs, on loopback only:
#   * PostgreSQL cluster A: the machine's cluster on 127.0.0.1:5432 if we can be superuser
#     `postgres` there without a password, else a private cluster (var/test/pg-a, port 55432);
#   * PostgreSQL cluster B: always a private cluster (var/test/pg-b, port 55433), for the
#     "tenants on two clusters" tests;
#   * Redis: 127.0.0.1:6379 if it answers, else a private redis-server on port 56379.
#
#   infra/test/services.sh up    start what is missing; write var/test/env.sh (export lines)
#   infra/test/services.sh down  stop only what `up` started (listed in var/test/started)
#
# Private clusters are started with the pgembed example (crates/pgembed/examples/pgctl.rs),
# so this script does not depend on the service binary. Missing packages are installed with
# apt-get (as root, or through passwordless sudo); `apt-get update` runs at most once per
# XIAOBAO_TEST_RUN_ID (infra/test/run.sh sets it), and only when something is missing.
# XIAOBAO_TEST_PRIVATE_SERVICES=1 skips the machine's PostgreSQL/Redis and starts private ones.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VAR_DIR="$ROOT/var/test"
ENV_FILE="$VAR_DIR/env.sh"
STARTED_FILE="$VAR_DIR/started"
APT_STAMP="$VAR_DIR/apt-updated"
RUN_ID="${XIAOBAO_TEST_RUN_ID:-services-$$-$(date +%s)}"
PRIVATE_ONLY="${XIAOBAO_TEST_PRIVATE_SERVICES:-0}"

SYSTEM_PG_PORT=5432
PG_A_DIR="$VAR_DIR/pg-a"
PG_A_PORT=55432
PG_B_DIR="$VAR_DIR/pg-b"
PG_B_PORT=55433
SYSTEM_REDIS_PORT=6379
REDIS_PORT=56379
REDIS_DIR="$VAR_DIR/redis"

log() { printf 'services.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

usage() {
  printf 'usage: %s up|down\n' "$0" >&2
  exit 2
}

# Runs a command as root: directly, or through passwordless sudo.
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    return 1
  fi
}

# apt_install PACKAGE... — one `apt-get update` per run, then install.
apt_install() {
  local hint="sudo apt-get install $*"
  command -v apt-get >/dev/null 2>&1 ||
    die "missing: $* — apt-get is not available; install the equivalent packages by hand"
  if [[ $EUID -ne 0 ]] && ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
    die "missing: $* — not root and no passwordless sudo; run: $hint"
  fi
  if [[ "$(cat "$APT_STAMP" 2>/dev/null || true)" != "$RUN_ID" ]]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 update >&2 ||
      die "apt-get update failed"
    printf '%s\n' "$RUN_ID" >"$APT_STAMP"
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 \
    install -y --no-install-recommends "$@" >&2 || die "apt-get install $* failed; run: $hint"
}

have() { command -v "$1" >/dev/null 2>&1; }

# Same places the pgembed crate searches (it double-checks; this only decides whether to
# install the server package up front, so the crate never runs apt-get itself).
have_pg_server() {
  local dir
  for dir in ${XIAOBAO_PG_BIN_DIR:+"$XIAOBAO_PG_BIN_DIR"} /usr/lib/postgresql/*/bin; do
    if [[ -x $dir/initdb && -x $dir/pg_ctl && -x $dir/postgres ]]; then
      return 0
    fi
  done
  have initdb && have pg_ctl && have postgres
}

# redis_ping PORT — true if a Redis server answers PONG on 127.0.0.1:PORT.
redis_ping() {
  local port=$1 reply=""
  if have redis-cli; then
    reply="$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)"
    [[ $reply == PONG ]]
  else
    # No client installed yet: speak the protocol by hand.
    (
      exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
      printf 'PING\r\n' >&3
      IFS= read -r -t 3 reply <&3 || exit 1
      [[ ${reply%$'\r'} == "+PONG" ]]
    ) 2>/dev/null
  fi
}

# True if the cluster on 127.0.0.1:5432 lets us in as a superuser without a password.
system_pg_usable() {
  local out
  [[ $PRIVATE_ONLY != 1 ]] || return 1
  have psql || return 1
  out="$(PGCONNECT_TIMEOUT=5 timeout 15 psql -X -w -h 127.0.0.1 -p "$SYSTEM_PG_PORT" -U postgres \
    -d postgres -tAc "select rolsuper from pg_roles where rolname=current_user" 2>/dev/null)" ||
    return 1
  [[ $out == t ]]
}

system_redis_usable() {
  [[ $PRIVATE_ONLY != 1 ]] && redis_ping "$SYSTEM_REDIS_PORT"
}

record_started() {
  if ! grep -qxF "$1" "$STARTED_FILE" 2>/dev/null; then
    printf '%s\n' "$1" >>"$STARTED_FILE"
  fi
}

pgctl() {
  (cd "$ROOT" && cargo run -q -p xiaobao-pgembed --example pgctl -- "$@") </dev/null
}

# start_private_pg NAME DIR PORT — sets PG_URL.
start_private_pg() {
  local name=$1 dir=$2 port=$3 out started
  log "PostgreSQL $name: ensuring a private cluster in ${dir#"$ROOT"/} on port $port"
  out="$(pgctl start --data-dir "$dir" --port "$port")" ||
    die "could not start PostgreSQL cluster $name (messages above)"
  PG_URL="$(sed -n 's/^url=//p' <<<"$out")"
  started="$(sed -n 's/^started_now=//p' <<<"$out")"
  [[ -n $PG_URL ]] || die "pgctl printed no url for cluster $name: $out"
  if [[ $started == true ]]; then
    record_started "$name"
    log "PostgreSQL $name: started ($(sed -n 's/^data_dir=//p' <<<"$out"))"
  else
    log "PostgreSQL $name: already running, reused"
  fi
}

start_private_redis() {
  local i
  mkdir -p "$REDIS_DIR"
  log "Redis: starting a private redis-server on port $REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" >&2 ||
    die "redis-server failed to start; see $REDIS_DIR/redis.log"
  record_started redis
  for ((i = 0; i < 50; i++)); do
    if redis_ping "$REDIS_PORT"; then
      return 0
    fi
    sleep 0.2
  done
  tail -n 20 "$REDIS_DIR/redis.log" >&2 2>/dev/null || true
  die "redis-server on port $REDIS_PORT does not answer PING"
}

up() {
  mkdir -p "$VAR_DIR"
  have cargo || die "cargo is not on PATH (install Rust: https://rustup.rs)"

  # Install whatever is missing in one go.
  local packages=()
  if ! have_pg_server; then
    packages+=(postgresql) # includes the client
  elif ! have psql; then
    packages+=(postgresql-client)
  fi
  if ! system_redis_usable && ! redis_ping "$REDIS_PORT" && ! have redis-server; then
    packages+=(redis-server)
  fi
  if ((${#packages[@]} > 0)); then
    apt_install "${packages[@]}"
  fi

  local url_a url_b redis_url
  if system_pg_usable; then
    url_a="postgres://postgres@127.0.0.1:$SYSTEM_PG_PORT/postgres"
    log "PostgreSQL pg-a: using the cluster on 127.0.0.1:$SYSTEM_PG_PORT"
  else
    start_private_pg pg-a "$PG_A_DIR" "$PG_A_PORT"
    url_a=$PG_URL
  fi
  start_private_pg pg-b "$PG_B_DIR" "$PG_B_PORT"
  url_b=$PG_URL

  if system_redis_usable; then
    redis_url="redis://127.0.0.1:$SYSTEM_REDIS_PORT/"
    log "Redis: using 127.0.0.1:$SYSTEM_REDIS_PORT"
  else
    if redis_ping "$REDIS_PORT"; then
      log "Redis: private server on port $REDIS_PORT already running, reused"
    else
      start_private_redis
    fi
    redis_url="redis://127.0.0.1:$REDIS_PORT/"
  fi

  local tmp="$ENV_FILE.tmp.$$"
  {
    printf '# Written by infra/test/services.sh up; removed by services.sh down.\n'
    printf "export XIAOBAO_TEST_DATABASE_URL='%s'\n" "$url_a"
    printf "export XIAOBAO_TEST_DATABASE_URL_B='%s'\n" "$url_b"
    printf "export XIAOBAO_TEST_REDIS_URL='%s'\n" "$redis_url"
  } >"$tmp"
  mv -f "$tmp" "$ENV_FILE"
  log "settings written to ${ENV_FILE#"$ROOT"/}"
}

stop_private_redis() {
  local pid="" i
  pid="$(cat "$REDIS_DIR/redis.pid" 2>/dev/null || true)"
  if have redis-cli && redis_ping "$REDIS_PORT"; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  elif [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
  fi
  for ((i = 0; i < 50; i++)); do
    if ! redis_ping "$REDIS_PORT" && ! { [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; }; then
      log "Redis: private server stopped"
      return 0
    fi
    sleep 0.2
  done
  log "Redis: private server on port $REDIS_PORT did not stop"
  return 1
}

down() {
  if [[ ! -f $STARTED_FILE ]]; then
    log "nothing was started by up; leaving everything running"
    rm -f "$ENV_FILE"
    return 0
  fi
  local what failed=()
  while IFS= read -r what; do
    case $what in
      pg-a)
        log "PostgreSQL pg-a: stopping"
        pgctl stop --data-dir "$PG_A_DIR" --port "$PG_A_PORT" >/dev/null || failed+=(pg-a)
        ;;
      pg-b)
        log "PostgreSQL pg-b: stopping"
        pgctl stop --data-dir "$PG_B_DIR" --port "$PG_B_PORT" >/dev/null || failed+=(pg-b)
        ;;
      redis) stop_private_redis </dev/null || failed+=(redis) ;;
      "") ;;
      *) log "ignoring unknown entry '$what' in ${STARTED_FILE#"$ROOT"/}" ;;
    esac
  done <"$STARTED_FILE"
  rm -f "$ENV_FILE"
  if ((${#failed[@]} > 0)); then
    printf '%s\n' "${failed[@]}" >"$STARTED_FILE"
    die "could not stop: ${failed[*]} (kept in ${STARTED_FILE#"$ROOT"/})"
  fi
  rm -f "$STARTED_FILE"
}

[[ $# -eq 1 ]] || usage
case $1 in
  up) up ;;
  down) down ;;
  *) usage ;;
esac
