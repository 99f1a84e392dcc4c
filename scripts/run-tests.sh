#!/usr/bin/env bash
# Runs the CTest suite of a build folder and says how many tests skipped
# (a test whose data or tool is missing exits 77, which CTest shows as
# "Skipped", never "Passed"). With REEF_FORBID_SKIPS=1 (set by .ci/run when
# CI=true, where ../shared and every Debian tool are present) a skipped
# test fails the run.
#   scripts/run-tests.sh BUILD_DIR [JOBS] [ctest arguments...]
set -uo pipefail
build=${1:?usage: scripts/run-tests.sh BUILD_DIR [JOBS] [ctest arguments...]}
jobs=${2:-2}
shift $(( $# >= 2 ? 2 : 1 ))
log="$build/ctest.log"
(cd "$build" && ctest --output-on-failure -j "$jobs" "$@") 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# progress lines look like " 7/37 Test #32: name ....***Skipped   0.01 sec"
skipped=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped' "$log" || true)
total=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$log" || true)
echo "tests: $total run by CTest, $skipped skipped"
if ((skipped)); then
  grep -E '^[[:space:]]+[0-9]+ - .* \(Skipped\)$' "$log" | sed 's/^[[:space:]]*/  skipped: /'
  if [[ "${REEF_FORBID_SKIPS:-0}" == "1" ]]; then
    echo "tests: FAILED: $skipped test(s) skipped where nothing may skip (REEF_FORBID_SKIPS=1; see each test's SKIPPED line)" >&2
    exit 1
  fi
fi
exit "$status"
