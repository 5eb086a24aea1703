#!/usr/bin/env bash
# Starts the local AWS emulator on 127.0.0.1 (a free port), points the AWS SDK at it through the
# standard environment variables, runs the given command, and stops the emulator again.
#   tests/emulator/with-emulator.sh target/debug/runbook run runbooks/tutorial.rhai
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/tests/emulator/setup.sh"
py="$root/.venv/bin/python"
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp -t runbook-emulator.XXXXXX.log)
# What the emulator needs to behave as AWS does for the runbooks (docs/src/emulator.md): a
# service's deployment completes once its tasks run (rollout.rhai waits for that), and a requested
# certificate is issued once its validation record is written (examples/https.rhai). Set in the
# environment, they win.
export MOTO_ECS_SERVICE_RUNNING="${MOTO_ECS_SERVICE_RUNNING:-1}"
export MOTO_ACM_VALIDATION_WAIT="${MOTO_ACM_VALIDATION_WAIT:-0}"
"$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
"$py" "$root/tests/emulator/configure.py" "http://127.0.0.1:$port" || { cat "$log" >&2; exit 1; }
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
echo "emulator: $AWS_ENDPOINT_URL" >&2
"$@"
