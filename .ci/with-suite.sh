#!/usr/bin/env bash
# Starts the suite with `leadflow up` on loopback ports 59051-59053 and a temporary data
# folder, runs the given command with LEADFLOW_*_ADDR pointing at it, then stops the suite.
# Usage: .ci/with-suite.sh COMMAND [ARG...]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --locked -p leadflow
leadflow="${CARGO_TARGET_DIR:-$root/target}/debug/leadflow"

work=$(mktemp -d)
"$leadflow" up --data-dir "$work/data" --activity-port 59051 --scoring-port 59052 --qualification-port 59053 \
    >"$work/up.log" 2>&1 &
suite=$!
cleanup() {
    kill -INT "$suite" 2>/dev/null || true
    wait "$suite" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

export LEADFLOW_ACTIVITY_ADDR=127.0.0.1:59051
export LEADFLOW_SCORING_ADDR=127.0.0.1:59052
export LEADFLOW_QUALIFICATION_ADDR=127.0.0.1:59053
for _ in $(seq 1 100); do
    "$leadflow" --scoring-addr "http://$LEADFLOW_SCORING_ADDR" model show >/dev/null 2>&1 && break
    sleep 0.2
done

status=0
"$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "suite log:"
    tail -n 50 "$work/up.log"
fi
exit "$status"
