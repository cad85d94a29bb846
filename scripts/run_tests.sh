#!/usr/bin/env bash
# Runs the test suite. pytest exits 5 when it collects no test: for this project that
# means the suite went missing (a bad path, an import-time skip of everything), so it
# is reported as a failure, loudly, rather than passed off as green.
#
# With 2+ cores the tests run in that many pytest-xdist workers (at most 4; TEST_WORKERS=N
# overrides, TEST_WORKERS=1 runs them in this one process). Each worker takes whole groups
# (tests/conftest.py: a module, or all browser / all cluster tests), the long ones first;
# the trained demo is built once for all workers.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-artifacts
workers=${TEST_WORKERS:-$(nproc 2>/dev/null || echo 1)}
if [ "$workers" -gt 4 ]; then workers=4; fi
xdist=()
if [ "$workers" -gt 1 ]; then
  xdist=(-n "$workers" --dist loadgroup --no-loadscope-reorder)
fi
.venv/bin/python -m pytest "${xdist[@]}" "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: treating as a failure (expected a test suite under tests/)" >&2
  exit 1
fi
exit "$rc"
