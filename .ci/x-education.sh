#!/usr/bin/env bash
# Runs the suite on the X Education lead file and checks the funnel totals. It expects 9,240
# leads, 3,561 customers recorded from the Converted column and some MQLs under the example
# model, and that a second import of the file stores nothing new.
# Usage: .ci/x-education.sh PATH/TO/Leads.csv
set -euo pipefail

data=${1:?usage: x-education.sh PATH/TO/Leads.csv}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cargo build --locked -p leadflow
leadflow="${CARGO_TARGET_DIR:-$root/target}/debug/leadflow"

work=$(mktemp -d)
export LEADFLOW_ACTIVITY_ADDR=http://127.0.0.1:58051
export LEADFLOW_SCORING_ADDR=http://127.0.0.1:58052
export LEADFLOW_QUALIFICATION_ADDR=http://127.0.0.1:58053
export LANG=C.UTF-8

"$leadflow" up --data-dir "$work/data" --activity-port 58051 --scoring-port 58052 --qualification-port 58053 \
    >"$work/up.log" 2>&1 &
suite=$!
cleanup() {
    kill -INT "$suite" 2>/dev/null || true
    wait "$suite" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
    "$leadflow" model show >/dev/null 2>&1 && break
    sleep 0.2
done

"$leadflow" model publish examples/x-education/model.toml
"$leadflow" --json import "$data" --mapping examples/x-education/mapping.toml >"$work/first.json"

# Scoring runs behind the import; wait until the funnel stops changing.
previous=""
stable=0
for _ in $(seq 1 240); do
    current=$("$leadflow" --json funnel)
    if [ "$current" = "$previous" ]; then
        stable=$((stable + 1))
        [ "$stable" -ge 3 ] && break
    else
        stable=0
    fi
    previous=$current
    sleep 5
done
echo "$current" >"$work/funnel.json"

"$leadflow" --json import "$data" --mapping examples/x-education/mapping.toml >"$work/second.json"
sleep 5
"$leadflow" --json funnel >"$work/funnel-after.json"

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
first = json.load(open(f"{work}/first.json"))
second = json.load(open(f"{work}/second.json"))
funnel = json.load(open(f"{work}/funnel.json"))
after = json.load(open(f"{work}/funnel-after.json"))
stages = {stage["stage"]: stage["lead_count"] for stage in funnel["stages"]}
problems = []
def expect(name, actual, expected):
    status = "ok" if actual == expected else "WRONG"
    if isinstance(actual, dict):
        summary = "same" if actual == expected else json.dumps(actual)
        print(f"{name}: {summary} {status}")
    else:
        print(f"{name}: {actual} (expected {expected}) {status}")
    if actual != expected:
        problems.append(name)
expect("rows imported", first["rows_imported"], 9240)
expect("rows failed", first["rows_failed"], 0)
expect("funnel leads", stages.get("lead"), 9240)
expect("customers recorded by import", funnel["imported_won_count"], 3561)
print(f"MQLs under the example model: {stages.get('mql')}")
if not stages.get("mql"):
    problems.append("no MQL")
expect("second run: leads created", second["leads_created"], 0)
expect("second run: activities created", second["activities_created"], 0)
expect("second run: funnel unchanged", after, funnel)
if problems:
    sys.exit(f"X Education check failed: {', '.join(problems)}")
PY

"$leadflow" funnel
