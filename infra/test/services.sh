#!/usr/bin/env bash
# Services the test suite needs, on loopback only:
#   * PostgreSQL cluster A: the machine's cluster on 127.0.0.1:5432 if we can be superuser
#     `postgres` there without a password, else a private cluster (var/test/pg-a, port 55432);
#   * PostgreSQL cluster B: always a private cluster (var/test/pg-b, port 55433), for the
#     "tenants on two clusters" tests;
#   * Redis: 127.0.0.1:6379 if it answers, else a private redis-server on port 56379;
#   * S3: moto's server on 127.0.0.1:59000 (any access key; tests create their buckets);
#   * SMTP: aiosmtpd on 127.0.0.1:59025, storing every message in the Maildir var/test/smtp/maildir;
#   * WebDriver: Debian's chromedriver on 127.0.0.1:59515, driving Debian's /usr/bin/chromium
#     (fonts-noto-cjk for Chinese glyphs).
# moto and aiosmtpd come from PyPI into the virtualenv var/test/py (made once, then reused),
# with schemathesis, which the e2e test `schemathesis` runs against the API
# (XIAOBAO_TEST_SCHEMATHESIS in env.sh).
# Each of these is reused when it already answers on its port; one that `up` starts runs in
# its own session (setsid) with NAME.pid and NAME.log in var/test/NAME.
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
PY_DIR="$VAR_DIR/py"
MOTO_PORT=59000
MOTO_DIR="$VAR_DIR/moto"
SMTP_PORT=59025
SMTP_DIR="$VAR_DIR/smtp"
SMTP_MAILDIR="$SMTP_DIR/maildir"
WEBDRIVER_PORT=59515
CHROMEDRIVER_DIR="$VAR_DIR/chromedriver"
CHROMEDRIVER_BIN=/usr/bin/chromedriver
CHROMIUM_BIN=/usr/bin/chromium

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

# port_open PORT — true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  # shellcheck disable=SC2016 # $1 belongs to the inner shell
  timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# True if moto's S3 answers an anonymous ListBuckets on 127.0.0.1:MOTO_PORT.
moto_answers() {
  local out
  out="$(curl -s -m 3 "http://127.0.0.1:$MOTO_PORT/" 2>/dev/null || true)"
  [[ $out == *ListAllMyBucketsResult* ]]
}

# True if aiosmtpd greets on 127.0.0.1:SMTP_PORT ("220 <host> Python SMTP <version>").
smtp_answers() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT" || exit 1
    IFS= read -r -t 3 line <&3 || exit 1
    printf 'QUIT\r\n' >&3
    [[ ${line%$'\r'} == "220 "*"Python SMTP"* ]]
  ) 2>/dev/null
}

# True if a ChromeDriver on 127.0.0.1:WEBDRIVER_PORT reports itself ready.
chromedriver_answers() {
  local out
  out="$(curl -s -m 3 "http://127.0.0.1:$WEBDRIVER_PORT/status" 2>/dev/null || true)"
  [[ $out == *ChromeDriver* && $out == *'"ready":true'* ]]
}

have_cjk_fonts() {
  if have dpkg-query; then
    [[ "$(dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null || true)" == \
      "install ok installed" ]]
  else
    have fc-list && [[ -n "$(fc-list :lang=zh family 2>/dev/null || true)" ]]
  fi
}

py_venv_ok() { "$PY_DIR/bin/python" -c '' 2>/dev/null; }
# The pinned versions; a venv holding another schemathesis is brought to these.
PY_PACKAGES=('moto[server]==5.2.5' 'aiosmtpd==1.4.6' 'schemathesis==4.32.5')
py_packages_ok() {
  "$PY_DIR/bin/python" - 2>/dev/null <<'PY'
import importlib.metadata
import aiosmtpd.main
import moto.server
import schemathesis
assert importlib.metadata.version("schemathesis") == "4.32.5"
PY
}

# The virtualenv var/test/py with moto[server], aiosmtpd and schemathesis: made once, then
# reused.
ensure_py_venv() {
  if ! py_venv_ok; then
    if [[ -e $PY_DIR ]]; then
      log "Python venv: ${PY_DIR#"$ROOT"/} is unusable, making it anew"
      rm -rf "$PY_DIR"
    fi
    log "Python venv: creating ${PY_DIR#"$ROOT"/} ($(python3 --version 2>&1))"
    python3 -m venv "$PY_DIR" >&2 || {
      rm -rf "$PY_DIR"
      die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    }
  fi
  if py_packages_ok; then
    return 0
  fi
  log "Python venv: pip install ${PY_PACKAGES[*]} (first run only; about a minute)"
  "$PY_DIR/bin/python" -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}" >&2 ||
    die "pip install ${PY_PACKAGES[*]} into ${PY_DIR#"$ROOT"/} failed"
  py_packages_ok ||
    die "moto.server, aiosmtpd or schemathesis still do not import in ${PY_DIR#"$ROOT"/}"
}

# bg_pid NAME DIR MARKER — prints the pid in DIR/NAME.pid if that process is alive and its
# command line contains MARKER (so a recycled pid is never taken for ours).
bg_pid() {
  local name=$1 dir=$2 marker=$3 pid cmdline
  pid="$(cat "$dir/$name.pid" 2>/dev/null || true)"
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ $cmdline == *"$marker"* ]] || return 1
  printf '%s\n' "$pid"
}

# start_bg NAME DIR COMMAND... — runs COMMAND in its own session (so it outlives this script
# and can be stopped as a process group), writing DIR/NAME.pid and DIR/NAME.log; records NAME.
start_bg() {
  local name=$1 dir=$2 i
  shift 2
  mkdir -p "$dir"
  rm -f "$dir/$name.pid"
  # shellcheck disable=SC2016 # $$ and $1 belong to the inner shell
  setsid bash -c 'printf "%s\n" "$$" >"$1" && shift && exec "$@"' bash "$dir/$name.pid" "$@" \
    </dev/null >"$dir/$name.log" 2>&1 &
  record_started "$name"
  for ((i = 0; i < 50; i++)); do
    if [[ -s $dir/$name.pid ]]; then
      return 0
    fi
    sleep 0.1
  done
  die "$name did not start (no ${dir#"$ROOT"/}/$name.pid); see ${dir#"$ROOT"/}/$name.log"
}

# wait_bg NAME DIR MARKER SECONDS CHECK — waits until CHECK succeeds while our process lives.
wait_bg() {
  local name=$1 dir=$2 marker=$3 secs=$4 check=$5 deadline
  deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    if "$check"; then
      return 0
    fi
    if ! bg_pid "$name" "$dir" "$marker" >/dev/null; then
      tail -n 20 "$dir/$name.log" >&2 2>/dev/null || true
      die "$name exited before it answered; see ${dir#"$ROOT"/}/$name.log"
    fi
    sleep 0.2
  done
  tail -n 20 "$dir/$name.log" >&2 2>/dev/null || true
  die "$name did not answer within ${secs}s; see ${dir#"$ROOT"/}/$name.log"
}

ensure_moto() {
  local marker="$PY_DIR/bin/moto_server" t0=$SECONDS
  if moto_answers; then
    log "S3 (moto): already answering on 127.0.0.1:$MOTO_PORT, reused"
    return 0
  fi
  if ! bg_pid moto "$MOTO_DIR" "$marker" >/dev/null; then
    if port_open "$MOTO_PORT"; then
      die "port $MOTO_PORT (S3/moto) is taken by something that does not answer like moto" \
        "(GET / gives no ListAllMyBucketsResult); stop it or free port $MOTO_PORT"
    fi
    start_bg moto "$MOTO_DIR" "$marker" -H 127.0.0.1 -p "$MOTO_PORT"
  fi
  wait_bg moto "$MOTO_DIR" "$marker" 30 moto_answers
  log "S3 (moto): started on 127.0.0.1:$MOTO_PORT in $((SECONDS - t0))s" \
    "(log ${MOTO_DIR#"$ROOT"/}/moto.log)"
}

ensure_smtp() {
  local ours="" t0=$SECONDS
  ours="$(bg_pid smtp "$SMTP_DIR" "$SMTP_MAILDIR" || true)"
  if smtp_answers; then
    [[ -n $ours ]] ||
      die "port $SMTP_PORT (SMTP) answers as an aiosmtpd that ${SMTP_DIR#"$ROOT"/}/smtp.pid" \
        "does not name: its mail would not land in $SMTP_MAILDIR; stop it or free port $SMTP_PORT"
    log "SMTP (aiosmtpd): already answering on 127.0.0.1:$SMTP_PORT, reused" \
      "(maildir $SMTP_MAILDIR)"
    return 0
  fi
  if [[ -z $ours ]]; then
    if port_open "$SMTP_PORT"; then
      die "port $SMTP_PORT (SMTP) is taken by something that does not greet like aiosmtpd;" \
        "stop it or free port $SMTP_PORT"
    fi
    # Maildir's cur/new/tmp: aiosmtpd's Mailbox makes them only when the folder itself is new.
    mkdir -p "$SMTP_MAILDIR/cur" "$SMTP_MAILDIR/new" "$SMTP_MAILDIR/tmp"
    # -u: SMTPUTF8 (RFC 6531), for UTF-8 addresses; -c CLASS ARGS... must come last.
    start_bg smtp "$SMTP_DIR" "$PY_DIR/bin/python" -m aiosmtpd -n -u -l "127.0.0.1:$SMTP_PORT" \
      -c aiosmtpd.handlers.Mailbox "$SMTP_MAILDIR"
  fi
  wait_bg smtp "$SMTP_DIR" "$SMTP_MAILDIR" 30 smtp_answers
  log "SMTP (aiosmtpd): started on 127.0.0.1:$SMTP_PORT in $((SECONDS - t0))s," \
    "mail goes to $SMTP_MAILDIR/new (log ${SMTP_DIR#"$ROOT"/}/smtp.log)"
}

ensure_chromedriver() {
  local marker="$CHROMEDRIVER_BIN --port=$WEBDRIVER_PORT" t0=$SECONDS
  if chromedriver_answers; then
    log "WebDriver (chromedriver): already answering on 127.0.0.1:$WEBDRIVER_PORT, reused"
    return 0
  fi
  if ! bg_pid chromedriver "$CHROMEDRIVER_DIR" "$marker" >/dev/null; then
    if port_open "$WEBDRIVER_PORT"; then
      die "port $WEBDRIVER_PORT (WebDriver) is taken by something that does not answer like" \
        "chromedriver (GET /status); stop it or free port $WEBDRIVER_PORT"
    fi
    # Without --allowed-ips chromedriver listens on 127.0.0.1 and ::1 only; with it, it
    # would listen on every interface.
    start_bg chromedriver "$CHROMEDRIVER_DIR" "$CHROMEDRIVER_BIN" "--port=$WEBDRIVER_PORT"
  fi
  wait_bg chromedriver "$CHROMEDRIVER_DIR" "$marker" 30 chromedriver_answers
  log "WebDriver (chromedriver): started on 127.0.0.1:$WEBDRIVER_PORT in $((SECONDS - t0))s" \
    "for $CHROMIUM_BIN (log ${CHROMEDRIVER_DIR#"$ROOT"/}/chromedriver.log)"
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
  have curl || packages+=(curl)
  if ! have python3; then
    packages+=(python3 python3-venv)
  elif ! py_venv_ok && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    packages+=(python3-venv)
  fi
  [[ -x $CHROMIUM_BIN ]] || packages+=(chromium)
  [[ -x $CHROMEDRIVER_BIN ]] || packages+=(chromium-driver)
  have_cjk_fonts || packages+=(fonts-noto-cjk)
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

  ensure_py_venv
  ensure_moto
  ensure_smtp
  ensure_chromedriver

  local tmp="$ENV_FILE.tmp.$$"
  {
    printf '# Written by infra/test/services.sh up; removed by services.sh down.\n'
    printf "export XIAOBAO_TEST_DATABASE_URL='%s'\n" "$url_a"
    printf "export XIAOBAO_TEST_DATABASE_URL_B='%s'\n" "$url_b"
    printf "export XIAOBAO_TEST_REDIS_URL='%s'\n" "$redis_url"
    printf "export XIAOBAO_TEST_S3_ENDPOINT='http://127.0.0.1:%s'\n" "$MOTO_PORT"
    printf "export XIAOBAO_TEST_S3_ACCESS_KEY_ID='testing'\n"
    printf "export XIAOBAO_TEST_S3_SECRET_ACCESS_KEY='testing'\n"
    printf "export XIAOBAO_TEST_S3_REGION='us-east-1'\n"
    printf "export XIAOBAO_TEST_SMTP_HOST='127.0.0.1'\n"
    printf "export XIAOBAO_TEST_SMTP_PORT='%s'\n" "$SMTP_PORT"
    printf "export XIAOBAO_TEST_SMTP_MAILDIR='%s'\n" "$SMTP_MAILDIR"
    printf "export XIAOBAO_TEST_WEBDRIVER_URL='http://127.0.0.1:%s'\n" "$WEBDRIVER_PORT"
    printf "export XIAOBAO_TEST_CHROMIUM='%s'\n" "$CHROMIUM_BIN"
    printf "export XIAOBAO_TEST_SCHEMATHESIS='%s'\n" "$PY_DIR/bin/schemathesis"
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

# stop_bg NAME DIR MARKER LABEL — stops what start_bg started: TERM to its process group
# (chromedriver's browsers too), up to 10 s, then KILL; removes DIR/NAME.pid.
stop_bg() {
  local name=$1 dir=$2 marker=$3 label=$4 pid="" target i
  if ! pid="$(bg_pid "$name" "$dir" "$marker")"; then
    rm -f "$dir/$name.pid"
    log "$label: not running"
    return 0
  fi
  target=$pid
  # setsid made it a process-group leader; signal the whole group then.
  if [[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]]; then
    target="-$pid"
  fi
  log "$label: stopping (pid $pid)"
  kill -TERM -- "$target" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 -- "$target" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 -- "$target" 2>/dev/null; then
    log "$label: still running after 10 s, sending KILL"
    kill -KILL -- "$target" 2>/dev/null || true
    for ((i = 0; i < 25; i++)); do
      kill -0 -- "$target" 2>/dev/null || break
      sleep 0.2
    done
  fi
  if kill -0 "$pid" 2>/dev/null; then
    log "$label: pid $pid did not stop"
    return 1
  fi
  rm -f "$dir/$name.pid"
  log "$label: stopped"
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
      moto)
        stop_bg moto "$MOTO_DIR" "$PY_DIR/bin/moto_server" "S3 (moto)" </dev/null ||
          failed+=(moto)
        ;;
      smtp)
        stop_bg smtp "$SMTP_DIR" "$SMTP_MAILDIR" "SMTP (aiosmtpd)" </dev/null || failed+=(smtp)
        ;;
      chromedriver)
        stop_bg chromedriver "$CHROMEDRIVER_DIR" "$CHROMEDRIVER_BIN --port=$WEBDRIVER_PORT" \
          "WebDriver (chromedriver)" </dev/null || failed+=(chromedriver)
        ;;
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
