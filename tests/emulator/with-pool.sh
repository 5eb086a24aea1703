#!/usr/bin/env bash
# Runs the given command (the end-to-end tests) with an emulator pool (tests/emulator/pool.py): each
# test's private emulator is forked from it, ready at once, instead of being started and set up anew.
#   tests/emulator/with-pool.sh cargo nextest run -p runbook-tests --test e2e
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d -t runbook-pool.XXXXXX)
sock="$dir/pool.sock"
mkfifo "$dir/ready"
"$root/.venv/bin/python" "$root/tests/emulator/pool.py" "$sock" >"$dir/ready" 2>"$dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
# The pool says "ready" once it has warmed up; one that exits first has said why on stderr.
read -r word <"$dir/ready" || true
if [ "${word:-}" != ready ]; then
    echo "the emulator pool did not start:" >&2
    cat "$dir/err" >&2
    exit 1
fi
export RUNBOOK_EMULATOR_POOL="$sock"
"$@"
