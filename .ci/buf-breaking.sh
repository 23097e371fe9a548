#!/usr/bin/env bash
# Proves that `buf breaking` (FILE rules, set in proto/buf.yaml) guards the v1 contracts.
#
# 1. proto/ compared with itself passes.
# 2. Each deliberate breaking edit, applied to a copy of proto/, fails with exit code 100
#    (buf's code for breaking changes found) and a message that names the change.
# 3. When the repository has a local `main` branch, proto/ is compared with main's proto/.
#    buf reads the local .git folder, so this needs no network.
#
# Usage: bash .ci/buf-breaking.sh   (needs buf; 1.75 is the version this was written against)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! command -v buf >/dev/null 2>&1; then
    echo "buf is not installed; install it with: npm install --global @bufbuild/buf" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/leadflow-buf-breaking.XXXXXX")
trap 'rm -rf "$work"' EXIT

failures=0
passes=0

pass() {
    echo "PASS $*"
    passes=$((passes + 1))
}

fail() {
    echo "FAIL $*"
    failures=$((failures + 1))
}

# Applies the sed program `edit` to `file` (relative to proto/) in a fresh copy of proto/ and
# checks that `buf breaking` rejects the copy with a message matching `expected` (an
# extended regular expression).
expect_breaking() {
    local name=$1 file=$2 edit=$3 expected=$4
    local copy="$work/proto"
    rm -rf "$copy"
    cp -R proto "$copy"
    sed -E -i "$edit" "$copy/$file"
    if cmp -s "proto/$file" "$copy/$file"; then
        fail "$name: the edit '$edit' matched nothing in $file; update the edit to the current contract"
        return
    fi

    local output status=0
    output=$(timeout 120 buf breaking "$copy" --against proto 2>&1) || status=$?
    if [ "$status" -ne 100 ]; then
        fail "$name: buf breaking exited with $status, expected 100 (breaking changes found); output: $output"
    elif ! grep -Eq "$expected" <<<"$output"; then
        fail "$name: buf breaking output does not match /$expected/; output: $output"
    else
        pass "$name: $(grep -E "$expected" <<<"$output" | head -n 1 | sed "s|$copy/||")"
    fi
}

echo "== unchanged contracts"
if output=$(timeout 120 buf breaking proto --against proto 2>&1); then
    pass "proto/ against itself"
else
    fail "proto/ against itself reported changes: $output"
fi

echo
echo "== deliberate breaking edits"
expect_breaking "field type change" leadflow/activity/v1/activity.proto \
    's/^  string campaign = 5;$/  int64 campaign = 5;/' \
    'Field "5" with name "campaign" on message "Lead" changed type from "string" to "int64"'
expect_breaking "field deletion" leadflow/activity/v1/activity.proto \
    '/^  string campaign = 5;$/d' \
    'Previously present field "5" with name "campaign" on message "Lead" was deleted'
expect_breaking "field rename" leadflow/activity/v1/activity.proto \
    's/^  string campaign = 5;$/  string campaign_name = 5;/' \
    'Field "5" on message "Lead" changed name from "campaign" to "campaign_name"'
expect_breaking "enum value deletion" leadflow/type/v1/types.proto \
    '/ACTIVITY_TYPE_SMS_SENT = 14;/d' \
    'Previously present enum value "14" on enum "ActivityType" was deleted'
expect_breaking "internal RPC deletion" leadflow/activity/v1/activity.proto \
    '/rpc DeliverQualificationEvents\(/d' \
    'Previously present RPC "DeliverQualificationEvents" on service "ActivityEventsService" was deleted'
expect_breaking "event field renumbering" leadflow/events/v1/events.proto \
    's/ActivityRecorded activity_recorded = 11;/ActivityRecorded activity_recorded = 14;/' \
    'Previously present field "11" with name "activity_recorded" on message "ActivityEvent" was deleted'

echo
echo "== against the main branch"
if [ ! -d .git ]; then
    echo "skipped: $root has no .git folder (buf reads only a plain .git folder, not a worktree link)"
elif ! git rev-parse --verify --quiet main >/dev/null; then
    echo "skipped: the repository has no local main branch"
elif ! git cat-file -e main:proto/buf.yaml 2>/dev/null; then
    echo "skipped: main has no proto/buf.yaml"
else
    if [ "$(git rev-parse HEAD)" = "$(git rev-parse main)" ]; then
        echo "HEAD is main, so this covers only uncommitted changes to proto/"
    fi
    if output=$(timeout 120 buf breaking proto --against '.git#branch=main,subdir=proto' 2>&1); then
        pass "proto/ against main ($(git rev-parse --short main))"
    else
        fail "proto/ breaks the contracts on main ($(git rev-parse --short main)): $output"
    fi
fi

echo
echo "buf breaking: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
