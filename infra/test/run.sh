#!/usr/bin/env bash
# THE test command (README): starts the test services, runs every test of the workspace,
# then the fresh-clone check, and always stops what it started.
#
#   infra/test/run.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

# Lets services.sh (and fresh-clone.sh) run `apt-get update` at most once per run.
XIAOBAO_TEST_RUN_ID="run-$$-$(date +%s)"
export XIAOBAO_TEST_RUN_ID

STEP="starting test services (infra/test/services.sh up)"
FRESH_CLONE="skipped (infra/test/fresh-clone.sh not present)"

CHECKS=0
# One closing line for the whole run: every cargo test result plus the fresh-clone check.
summary() {
  [[ -f var/test/cargo-test.log ]] || return 0
  awk -v checks="$CHECKS" '
    /^test result:/ { for (i = 2; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i - 1); if ($(i) ~ /^failed;?$/) f += $(i - 1) } }
    END { printf "tests: %d passed, %d failed\n", p + checks, f }
  ' var/test/cargo-test.log
}

finish() {
  local status=$?
  trap - EXIT INT TERM
  if ! infra/test/services.sh down; then
    printf 'run.sh: warning: stopping the test services failed; see var/test/started\n' >&2
  fi
  if ((status == 0)); then
    printf '==> infra/test/run.sh: PASSED (services up, cargo test --workspace --all-targets, fresh-clone check %s)\n' \
      "$FRESH_CLONE"
  else
    printf '==> infra/test/run.sh: FAILED while %s (exit status %d)\n' "$STEP" "$status"
  fi
  summary
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

STEP="checking that only the clock module reads the wall clock (infra/test/check-clock.sh)"
infra/test/check-clock.sh
CHECKS=$((CHECKS + 1))

STEP="starting test services (infra/test/services.sh up)"
infra/test/services.sh up
# shellcheck source=/dev/null
source var/test/env.sh

STEP="checking that .sqlx/ matches the checked SQL queries (infra/test/check-sqlx.sh)"
infra/test/check-sqlx.sh
CHECKS=$((CHECKS + 1))

STEP="running cargo test --workspace --all-targets"
mkdir -p var/test
rm -f var/test/cargo-test.log
cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee var/test/cargo-test.log

if [[ -x infra/test/fresh-clone.sh ]]; then
  STEP="running the fresh-clone check (infra/test/fresh-clone.sh)"
  infra/test/fresh-clone.sh
  FRESH_CLONE="passed"
  CHECKS=$((CHECKS + 1))
fi
STEP="finishing"
