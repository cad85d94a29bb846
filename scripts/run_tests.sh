#!/usr/bin/env bash
# Runs the test suite. pytest exits 5 when it collects no test: for this project that
# means the suite went missing (a bad path, an import-time skip of everything), so it
# is reported as a failure, loudly, rather than passed off as green.
#
# TEST_WORKERS=N (N > 1) runs the tests in N pytest-xdist workers, each taking whole modules
# (tests/conftest.py), the long ones first, with the trained demo built once for all of them.
# The default is one process, what CI runs.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-artifacts
workers=${TEST_WORKERS:-1}
xdist=()
if [ "$workers" -gt 1 ]; then
  xdist=(-n "$workers")
fi
.venv/bin/python -m pytest --durations=25 "${xdist[@]}" "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: treating as a failure (expected a test suite under tests/)" >&2
  exit 1
fi
exit "$rc"
