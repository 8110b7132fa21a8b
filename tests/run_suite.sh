#!/usr/bin/env bash
# The whole suite as two pytest processes side by side: the fault matrix (tests/faults) spends most of
# its time waiting on the time-skipping server, not on the CPU, so it runs beside everything else.
# Each process starts its own PostgreSQL and Temporal dev server (tests/conftest.py). Fails if either fails.
set -uo pipefail
python="${1:?usage: tests/run_suite.sh PYTHON}"
faults_log=$(mktemp -t orderflow-faults.XXXXXX)
"$python" -m pytest -q tests/faults >"$faults_log" 2>&1 &
faults_pid=$!
"$python" -m pytest -q --ignore=tests/faults
rest=$?
wait "$faults_pid"
faults=$?
echo "---- tests/faults ----"
cat "$faults_log"
rm -f "$faults_log"
[ "$rest" -eq 0 ] && [ "$faults" -eq 0 ]
