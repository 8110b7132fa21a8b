#!/usr/bin/env bash
# The whole suite as three pytest processes side by side. Most tests wait on PostgreSQL, the Temporal dev
# server or the time-skipping server rather than on the CPU, so one process leaves much of 2 cores idle: the
# fault matrix (tests/faults) runs in one, the integration tests split by file name in two (the second also
# takes every other folder). Each process starts its own PostgreSQL and Temporal dev server
# (tests/conftest.py). Fails if any fails; each part's output follows the first's.
set -uo pipefail
python="${1:?usage: tests/run_suite.sh PYTHON}"
faults_log=$(mktemp -t orderflow-faults.XXXXXX)
first_half_log=$(mktemp -t orderflow-integration.XXXXXX)
"$python" -m pytest -q tests/faults >"$faults_log" 2>&1 &
faults_pid=$!
"$python" -m pytest -q tests/integration --ignore-glob='tests/integration/test_[n-z]*' >"$first_half_log" 2>&1 &
first_half_pid=$!
"$python" -m pytest -q --ignore=tests/faults --ignore-glob='tests/integration/test_[a-m]*'
rest=$?
wait "$first_half_pid"
first_half=$?
wait "$faults_pid"
faults=$?
echo "---- tests/integration/test_[a-m]* ----"
cat "$first_half_log"
echo "---- tests/faults ----"
cat "$faults_log"
rm -f "$faults_log" "$first_half_log"
[ "$rest" -eq 0 ] && [ "$first_half" -eq 0 ] && [ "$faults" -eq 0 ]
