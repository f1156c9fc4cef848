#!/usr/bin/env bash
# berth's mittwald scenarios, and the vendor's JS client, through Stoplight Prism in proxy mode
# with the vendor's full spec (spec/mittwald-v2.json) in front of `berth sim`:
#
#   berth / client -> tap.mjs -> prism proxy --errors -> berth sim
#
# Prism checks every request against the spec (berth's side) and every response (the
# simulator's side); with --errors it answers a violation with a problem+json error instead of
# forwarding, which fails the scenario, and tap.mjs keeps that error's full text. Extra request
# headers (berth's `if-event-reached`) are not violations for Prism.
#
# Needs: `npm ci --prefix fidelity`, `cargo build` (target/debug/berth), node, python3.
# Exits non-zero on any violation or any scenario that did not end as expected.
set -euo pipefail
cd "$(dirname "$0")/.."
source fidelity/lib.sh

PRISM=fidelity/node_modules/.bin/prism
[ -x "$PRISM" ] || die "$PRISM is missing: run npm ci --prefix fidelity first"

start_sim "$FIDELITY_TMP/sim.log"

prism_port=$(free_port)
prism_log="$FIDELITY_TMP/prism.log"
"$PRISM" proxy spec/mittwald-v2.json "$SIM_URL" --errors --host 127.0.0.1 --port "$prism_port" \
    >"$prism_log" 2>&1 &
FIDELITY_PIDS+=("$!")
# Prism parses the 1 MB spec first: a few seconds.
wait_port "$prism_port" 60 "$!" || {
    tail -20 "$prism_log" >&2
    die "prism did not listen on 127.0.0.1:$prism_port within 60 s"
}

tap_port=$(free_port)
tap_log="$FIDELITY_TMP/tap.log"
: >"$tap_log"
node fidelity/tap.mjs "$tap_port" "http://127.0.0.1:$prism_port" "$tap_log" &
FIDELITY_PIDS+=("$!")
wait_port "$tap_port" 10 "$!" || die "tap.mjs did not listen on 127.0.0.1:$tap_port"
URL="http://127.0.0.1:$tap_port"
say "prism $("$PRISM" --version) proxying $SIM_URL at $URL"

failures=0
fail() {
    say "FAILED: $*"
    failures=$((failures + 1))
}

# scenario NAME EXPECTED_EXIT 'GREP_PATTERN'... -- VAR=VALUE...: one berth run with a clean
# environment; the stdout line must match every pattern.
scenario() {
    local name=$1 expected=$2 patterns=() out="$FIDELITY_TMP/out" err="$FIDELITY_TMP/err" code=0
    shift 2
    while [ "$1" != "--" ]; do
        patterns+=("$1")
        shift
    done
    shift
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
        BERTH_PROVIDER=mittwald BERTH_API_URL="$URL" BERTH_API_TOKEN=sim-token \
        BERTH_PROJECT_ID=p-fidel1 BERTH_APP=node BERTH_WAIT_TIMEOUT=60s "$@" \
        timeout 90 "$BERTH" >"$out" 2>"$err" || code=$?
    local ok=1 pattern
    [ "$code" = "$expected" ] || ok=0
    for pattern in "${patterns[@]}"; do
        grep -q -- "$pattern" "$out" || ok=0
    done
    if [ "$ok" = 1 ]; then
        say "ok: $name (exit $code)"
    else
        fail "$name: exit $code (expected $expected), stdout must match: ${patterns[*]}"
        sed 's/^/    stdout: /' "$out" >&2
        sed 's/^/    stderr: /' "$err" >&2
    fi
}

scenario "fresh install" 0 '"created":true' '"status":"ready"' -- \
    BERTH_DESCRIPTION="fidelity node"
scenario "second run reuses it" 0 '"created":false' '"status":"ready"' -- \
    BERTH_DESCRIPTION="fidelity node"
scenario "second run with on-existing reuse" 0 '"created":false' -- \
    BERTH_DESCRIPTION="fidelity node" BERTH_ON_EXISTING=reuse
scenario "dry run of an entrypoint update" 0 '"created":false' -- \
    BERTH_DESCRIPTION="fidelity node" BERTH_ENTRYPOINT="node server.js" BERTH_DRY_RUN=true
scenario "update of the entrypoint" 0 '"created":false' '"status":"ready"' -- \
    BERTH_DESCRIPTION="fidelity node" BERTH_ENTRYPOINT="node server.js"
scenario "dry run of a new installation" 0 '"status":"pending"' -- \
    BERTH_DESCRIPTION="fidelity never created" BERTH_DRY_RUN=true
scenario "Python, latest version, path, policy" 0 '"created":true' '"app_version":"1.1.0"' -- \
    BERTH_APP=python BERTH_APP_VERSION=latest BERTH_DESCRIPTION="fidelity python" \
    BERTH_INSTALLATION_PATH=/fidelity-python BERTH_UPDATE_POLICY=patchLevel \
    BERTH_ENTRYPOINT="gunicorn app:app"
scenario "WordPress with required user inputs, no wait" 0 '"created":true' -- \
    BERTH_APP=wordpress BERTH_DESCRIPTION="fidelity blog" BERTH_WAIT=false \
    BERTH_USER_INPUTS="site_title=Fidelity;admin_user=admin;admin_email=admin@example.com"
# The deploy (issue 14): the project's directories and cluster, a temporary SSH user made and
# removed, and the app's status, through prism; the files go over the simulator's SSH endpoint.
deploy_app="$FIDELITY_TMP/deploy-app"
mkdir -p "$deploy_app/lib"
printf '{"scripts":{"start":"node server.js"}}\n' >"$deploy_app/package.json"
printf 'require("./lib/app")\n' >"$deploy_app/server.js"
printf 'module.exports = 1\n' >"$deploy_app/lib/app.js"
sim_get() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode(), end="")' "$SIM_URL$1"; }
ssh_addr=$(sim_get /__sim/ssh | python3 -c 'import json, sys; print(json.load(sys.stdin)["addr"])')
ssh_known=$(sim_get /__sim/ssh/known_hosts)
scenario "deploy over SSH with a temporary user" 0 '"files_deployed":"3"' '"app_status":"running"' -- \
    BERTH_DESCRIPTION="fidelity deploy" BERTH_PATH="$deploy_app" BERTH_SSH_HOST="$ssh_addr" \
    BERTH_SSH_KNOWN_HOSTS="$ssh_known" BERTH_INSTALL_COMMAND=true
scenario "deploy again: nothing changed" 0 '"files_deployed":"0"' -- \
    BERTH_DESCRIPTION="fidelity deploy" BERTH_PATH="$deploy_app" BERTH_SSH_HOST="$ssh_addr" \
    BERTH_SSH_KNOWN_HOSTS="$ssh_known"
scenario "wrong token is refused" 1 '"status":"failed"' -- \
    BERTH_DESCRIPTION="fidelity node" BERTH_API_TOKEN=not-the-token

if [ -f fidelity/mittwald-client.mjs ]; then
    if timeout 120 node fidelity/mittwald-client.mjs "$URL" >"$FIDELITY_TMP/client.log" 2>&1; then
        say "ok: @mittwald/api-client through prism"
    else
        fail "@mittwald/api-client through prism"
        sed 's/^/    /' "$FIDELITY_TMP/client.log" >&2
    fi
fi

# Prism's own words: "Violation: ..." (logged warnings, or errors without --errors) and
# "Request terminated with error" (what --errors answered instead of forwarding).
if grep -E "Violation:|Request terminated with error" "$prism_log" >"$FIDELITY_TMP/violations"; then
    fail "prism found violations:"
    sed 's/^/    /' "$FIDELITY_TMP/violations" >&2
fi
if [ -s "$tap_log" ]; then
    fail "prism's error answers, in full:"
    sed 's/^/    /' "$tap_log" >&2
fi
# What was exercised, ids folded, for the record.
sed -n 's/.*\[HTTP SERVER\] \([a-z]*\) \([^ ?]*\).*Request received.*/\1 \2/p' "$prism_log" |
    sed -E 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/{id}/g; s#/p-[a-z0-9]+#/{id}#g' |
    sort | uniq -c | sed 's/^/    /' >&2
forwarded=$(grep -c "Forwarding" "$prism_log" || true)
[ "$forwarded" -gt 0 ] || fail "prism forwarded nothing"

if [ "$failures" -gt 0 ]; then
    say "prism: $failures failure(s)"
    exit 1
fi
say "prism: no violations in $forwarded forwarded requests"
