#!/usr/bin/env bash
# Fresh-clone check: the README's run command, started in a clean clone of HEAD with no
# configuration, brings up the whole system (private PostgreSQL, demo tenants) and answers
# /readyz with 200. Reuses the workspace's build directory so dependencies are not rebuilt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WAIT_SECS="${XIAOBAO_FRESH_CLONE_WAIT_SECS:-1200}"

if ! command -v curl >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

work="$(mktemp -d /tmp/xiaobao-fresh-XXXXXX)"
# The private cluster may run as an unprivileged user: it must be able to reach the clone.
chmod 755 "$work"
clone="$work/xiaobao"
git clone -q "$ROOT" "$clone"
port="$(free_port)"
pg_port="$(free_port)"
log="$work/run.log"
server_pid=""

cleanup() {
  local status=$?
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM -- "-$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "-$server_pid" 2>/dev/null || true
  fi
  # The service stops the cluster it started; make sure, whatever happened.
  (cd "$ROOT" && cargo run -q -p xiaobao-pgembed --example pgctl -- stop \
    --data-dir "$clone/var/pg" --port "$pg_port" >/dev/null 2>&1) || true
  if ((status != 0)); then
    echo "fresh-clone: the run command's output:" >&2
    tail -n 60 "$log" >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# The README's run command, exactly, with only the ports moved off the defaults.
run_command="$(sed -n 's/^    \(cargo run --release\)$/\1/p' "$clone/README.md" | head -n 1)"
if [[ -z "$run_command" ]]; then
  echo "fresh-clone: README.md does not give the run command 'cargo run --release'" >&2
  exit 1
fi
echo "fresh-clone: $run_command in $clone (HTTP $port, PostgreSQL $pg_port)"
(
  cd "$clone"
  export CARGO_TARGET_DIR="$ROOT/target"
  export XIAOBAO_SERVER__LISTEN="127.0.0.1:$port"
  export XIAOBAO_DATABASE__EMBEDDED_PORT="$pg_port"
  exec setsid $run_command
) >"$log" 2>&1 &
server_pid=$!

deadline=$((SECONDS + WAIT_SECS))
status=""
while ((SECONDS < deadline)); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "fresh-clone: the run command exited before it was ready" >&2
    exit 1
  fi
  status="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)"
  [[ "$status" == "200" ]] && break
  sleep 2
done
if [[ "$status" != "200" ]]; then
  echo "fresh-clone: /readyz did not answer 200 within ${WAIT_SECS}s (last: ${status:-none})" >&2
  exit 1
fi
page="$(curl -s "http://127.0.0.1:$port/t/henan/")"
if [[ "$page" != *"河南省教育保险管理系统"* ]]; then
  echo "fresh-clone: the henan landing page does not show its programme name" >&2
  exit 1
fi
grep -q "校保已启动" "$log" || { echo "fresh-clone: no start banner printed" >&2; exit 1; }
echo "fresh-clone: /readyz answered 200 and the demo tenants are served"
