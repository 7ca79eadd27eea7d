#!/usr/bin/env bash
# Fails when Rust code reads the wall clock anywhere but the clock module
# (crates/domain/src/clock.rs): deadlines, SLA clocks and academic years come from the
# application's `Clock`, so tests can run them on fixed dates.
#
#   infra/test/check-clock.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
ALLOWED="crates/domain/src/clock.rs"
found="$(grep -rnE '\b(Utc|Local)::now\(' --include='*.rs' crates apps tests | grep -v "^${ALLOWED}:" || true)"
if [[ -n "$found" ]]; then
  printf 'check-clock.sh: the wall clock is read outside %s; use the application'"'"'s Clock:\n%s\n' \
    "$ALLOWED" "$found" >&2
  exit 1
fi
printf 'check-clock.sh: no wall-clock reads outside %s\n' "$ALLOWED"
