#!/usr/bin/env bash
# Cloud Controller v3 through Stoplight Prism in proxy mode with the Cloud Controller's own
# OpenAPI document (spec/cloudfoundry-v3.json, as corrected by cf-spec.py) in front of
# `berth sim`, with v2 switched off (the Cloud Controller's default since CAPI 1.201.0):
#
#   client -> cf-front.mjs -> prism proxy --errors -> cf-front.mjs -> berth sim /cf
#                   \-> berth sim /uaa, /log-cache (UAA and log-cache: not in the spec)
#
# Prism checks every request against the spec (the client's side) and every response (the
# simulator's side); with --errors it answers a violation itself (422 / 500), which fails the
# run, and cf-front.mjs writes that answer down in full. cf-front.mjs also says why it has to
# carry binary bodies around Prism and capitalise "bearer" (see there); cf-spec.py lists the
# spec defects tolerated, with the evidence.
#
#   1. cloudfoundry-client's v3 API (fidelity/cf-client-v3.py) through Prism;
#   2. berth's v3 scenarios through Prism (BERTH_CF_API=v3): a fresh create with bits, a route
#      and start, an update (memory, environment), a docker push, and an unchanged re-run that
#      must send no package, build, stop or start (and once more with the API chosen from the
#      root document), and new settings going live through a rolling deployment; after each,
#      the app as the simulator holds it is checked (state, memory,
#      environment, lifecycle, routes, current droplet). FIDELITY_BERTH_V3=off skips them
#      (default on).
#
# Needs: `npm ci --prefix fidelity`, `pip install -r fidelity/requirements.txt`, `cargo build`.
# Exits non-zero on any violation or any scenario that did not end as expected.
set -euo pipefail
cd "$(dirname "$0")/.."
source fidelity/lib.sh

BERTH_V3=${FIDELITY_BERTH_V3:-on}
case "$BERTH_V3" in on | off) ;; *) die "FIDELITY_BERTH_V3 must be on or off, not '$BERTH_V3'" ;; esac

PRISM=fidelity/node_modules/.bin/prism
[ -x "$PRISM" ] || die "$PRISM is missing: run npm ci --prefix fidelity first"

start_sim "$FIDELITY_TMP/sim.log"

# sim_control METHOD PATH [JSON]: the simulator's control API; prints the answer.
sim_control() {
    python3 - "$SIM_URL/__sim/$2" "$1" "${3:-}" <<'EOF'
import sys, urllib.request
url, method, body = sys.argv[1:4]
request = urllib.request.Request(url, data=body.encode() or None, method=method,
                                 headers={"content-type": "application/json"})
with urllib.request.urlopen(request, timeout=10) as answer:
    sys.stdout.write(answer.read().decode())
EOF
}
sim_control PATCH options '{"cf_v2_disabled": true}' >/dev/null

spec="$FIDELITY_TMP/cloudfoundry-v3.json"
python3 fidelity/cf-spec.py spec/cloudfoundry-v3.json "$spec" >&2 ||
    die "cf-spec.py: a correction no longer fits the spec (see above)"

prism_port=$(free_port)
back_port=$(free_port)
front_port=$(free_port)
prism_log="$FIDELITY_TMP/prism-cf.log"
"$PRISM" proxy "$spec" "http://127.0.0.1:$back_port/cf" --errors --host 127.0.0.1 --port "$prism_port" \
    >"$prism_log" 2>&1 &
FIDELITY_PIDS+=("$!")
wait_port "$prism_port" 60 "$!" || {
    tail -20 "$prism_log" >&2
    die "prism did not listen on 127.0.0.1:$prism_port within 60 s"
}
front_log="$FIDELITY_TMP/cf-front.log"
: >"$front_log"
node fidelity/cf-front.mjs "$front_port" "$back_port" "http://127.0.0.1:$prism_port" "$SIM_URL" "$front_log" \
    >/dev/null &
front_pid=$!
FIDELITY_PIDS+=("$front_pid")
wait_port "$front_port" 10 "$front_pid" || die "cf-front.mjs did not listen on 127.0.0.1:$front_port"
wait_port "$back_port" 10 "$front_pid" || die "cf-front.mjs did not listen on 127.0.0.1:$back_port"
URL="http://127.0.0.1:$front_port"
say "prism $("$PRISM" --version) with the Cloud Controller v3 spec, proxying $SIM_URL/cf at $URL/cf (v2 off)"

failures=0
fail() {
    say "FAILED: $*"
    failures=$((failures + 1))
}

# 1. cloudfoundry-client through prism.
if timeout 180 python3 fidelity/cf-client-v3.py "$SIM_URL" --api "$URL/cf" >"$FIDELITY_TMP/client.log" 2>&1; then
    say "ok: cloudfoundry-client v3 through prism ($(grep -c '^cf-client-v3: ' "$FIDELITY_TMP/client.log") steps)"
else
    fail "cloudfoundry-client v3 through prism"
    sed 's/^/    /' "$FIDELITY_TMP/client.log" >&2
fi

# 2. berth's v3 scenarios through prism.
app="$FIDELITY_TMP/app"
mkdir -p "$app"
printf '%s\n' '{"name": "fidelity-v3", "scripts": {"start": "node server.js"}}' >"$app/package.json"
printf '%s\n' "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT)" >"$app/server.js"

# scenario NAME EXPECTED_EXIT 'GREP_PATTERN'... -- VAR=VALUE...: one berth run on v3 with a
# clean environment; the stdout line must match every pattern.
scenario() {
    local name=$1 expected=$2 patterns=() out="$FIDELITY_TMP/out" err="$FIDELITY_TMP/err" code=0
    shift 2
    while [ "$1" != "--" ]; do
        patterns+=("$1")
        shift
    done
    shift
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
        BERTH_PROVIDER=cloudfoundry BERTH_CF_API=v3 BERTH_API_URL="$URL/cf" \
        BERTH_CF_USERNAME=admin BERTH_CF_PASSWORD=admin-password \
        BERTH_SPACE_GUID=6f0a3d1e-5b7c-4e2a-9f10-2d3c4b5a6e7f BERTH_WAIT_TIMEOUT=60s "$@" \
        timeout 90 "$BERTH" >"$out" 2>"$err" || code=$?
    local ok=1 pattern
    [ "$code" = "$expected" ] || ok=0
    for pattern in "${patterns[@]}"; do
        grep -q -- "$pattern" "$out" || ok=0
    done
    if [ "$ok" = 1 ]; then
        say "ok: berth: $name (exit $code)"
    else
        fail "berth: $name: exit $code (expected $expected), stdout must match: ${patterns[*]}"
        sed 's/^/    stdout: /' "$out" >&2
        sed 's/^/    stderr: /' "$err" >&2
    fi
}

# expect_app NAME CONDITION: the app as the simulator holds it (read straight from the
# simulator, not through Prism) must satisfy the Python CONDITION over `app`, `web` (its web
# process), `env` (its environment variables), `routes` (the urls of its routes), `droplet`
# (its current droplet) and `out` (the last berth run's stdout JSON).
expect_app() {
    python3 - "$SIM_URL" "$1" "$2" "$FIDELITY_TMP/out" <<'EOF' || fail "berth: $1 is not as expected: $2"
import json, sys, urllib.request
sim, name, condition, out = sys.argv[1:5]
def get(path):
    request = urllib.request.Request(f"{sim}/cf{path}", headers={"authorization": "bearer sim-token"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)
apps = get(f"/v3/apps?names={name}")["resources"]
assert len(apps) == 1, apps
app = apps[0]
web = get(f"/v3/apps/{app['guid']}/processes/web")
env = get(f"/v3/apps/{app['guid']}/environment_variables")["var"]
droplet = get(f"/v3/apps/{app['guid']}/droplets/current")
routes = [route["url"] for route in get(f"/v3/apps/{app['guid']}/routes")["resources"]]
out = json.load(open(out))
print(f"fidelity:   {name}: {app['state']}, {app['lifecycle']['type']}, {web['instances']} x "
      f"{web['memory_in_mb']} MB, environment {env}, routes {routes}, droplet {droplet['guid']}", file=sys.stderr)
sys.exit(0 if eval(f"({condition})") else 1)
EOF
}

if [ "$BERTH_V3" = on ]; then
    web=(BERTH_NAME=fidelity-v3-web BERTH_PATH="$app" BERTH_STATE=STARTED)
    v3='"api_version":"v3"'
    scenario "fresh create with bits, started" 0 '"created":true' '"state":"STARTED"' "$v3" '"status":"ready"' -- \
        "${web[@]}" BERTH_MEMORY=256M BERTH_ENVIRONMENT="GREETING=hello" BERTH_ROUTES=fidelity-v3-web.apps.sim.example
    expect_app fidelity-v3-web 'app["state"] == "STARTED" and web["memory_in_mb"] == 256 and
        env == {"GREETING": "hello"} and droplet["state"] == "STAGED" and out["droplet_guid"] == droplet["guid"] and
        routes == ["fidelity-v3-web.apps.sim.example"]'
    scenario "update: memory and environment" 0 '"created":false' '"state":"STARTED"' "$v3" '"status":"ready"' -- \
        "${web[@]}" BERTH_MEMORY=512M BERTH_ENVIRONMENT="GREETING=hi
MODE=ci"
    expect_app fidelity-v3-web 'app["state"] == "STARTED" and web["memory_in_mb"] == 512 and
        env == {"GREETING": "hi", "MODE": "ci"} and out["droplet_guid"] == droplet["guid"] and
        routes == ["fidelity-v3-web.apps.sim.example"]'
    cp "$FIDELITY_TMP/out" "$FIDELITY_TMP/out.update"
    scenario "docker push, started" 0 '"created":true' '"state":"STARTED"' "$v3" '"status":"ready"' -- \
        BERTH_NAME=fidelity-v3-docker BERTH_DOCKER_IMAGE=nginx:1.27 BERTH_STATE=STARTED
    expect_app fidelity-v3-docker 'app["state"] == "STARTED" and app["lifecycle"]["type"] == "docker" and
        droplet["image"] == "nginx:1.27" and out["droplet_guid"] == droplet["guid"]'
    sim_control DELETE requests >/dev/null
    scenario "unchanged re-run" 0 '"created":false' '"state":"STARTED"' "$v3" '"status":"ready"' -- \
        "${web[@]}" BERTH_MEMORY=512M BERTH_ENVIRONMENT="GREETING=hi
MODE=ci"
    sim_control GET requests >"$FIDELITY_TMP/requests.json"
    update_droplet=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["droplet_guid"])' \
        "$FIDELITY_TMP/out.update")
    expect_app fidelity-v3-web "app['state'] == 'STARTED' and droplet['guid'] == '$update_droplet' and
        out['droplet_guid'] == '$update_droplet' and web['memory_in_mb'] == 512"
    # What the unchanged re-run sent: reads and logins only, no package, build, droplet, stop
    # or start (the simulator's recorder, behind Prism).
    if ! python3 - "$FIDELITY_TMP/requests.json" <<'EOF'; then
import json, re, sys
requests = json.load(open(sys.argv[1]))
writes = [f"{r['method']} {r['path']}" for r in requests if r["method"] != "GET" and not r["path"].startswith("/uaa/")]
changes = [w for w in writes if re.search(r"/v3/(packages|builds)|/actions/|current_droplet", w)]
print(f"fidelity:   the unchanged re-run: {len(requests)} requests, writes: {', '.join(writes) or 'none'}", file=sys.stderr)
sys.exit(1 if changes or not requests else 0)
EOF
        fail "berth: the unchanged re-run sent a package, build, droplet, stop or start"
    fi
    # BERTH_CF_API=auto (the default) reads the root document through Prism and picks v3.
    scenario "the same, the API chosen from the root document" 0 '"created":false' "$v3" '"status":"ready"' -- \
        "${web[@]}" BERTH_CF_API=auto BERTH_MEMORY=512M BERTH_ENVIRONMENT="GREETING=hi
MODE=ci"
    # New settings go live on the running app through a rolling deployment (no stop, no
    # restart): POST /v3/deployments and its reads through Prism.
    scenario "rolling deployment of new settings" 0 '"created":false' '"state":"STARTED"' "$v3" '"status":"ready"' \
        '"deployment_guid":"' -- \
        "${web[@]}" BERTH_STRATEGY=rolling BERTH_MEMORY=384M BERTH_ENVIRONMENT="GREETING=hi
MODE=ci"
    expect_app fidelity-v3-web 'app["state"] == "STARTED" and web["memory_in_mb"] == 384 and
        routes == ["fidelity-v3-web.apps.sim.example"]'
else
    say "SKIPPED: berth's v3 scenarios (FIDELITY_BERTH_V3=off)"
fi

# Prism's own words, and cf-front's: every error answer Prism made up, any body Prism
# changed, any request that would have gone around Prism.
if grep -E "Violation:|Request terminated with error" "$prism_log" >"$FIDELITY_TMP/violations"; then
    fail "prism found violations:"
    sed 's/^/    /' "$FIDELITY_TMP/violations" >&2
fi
kill "$front_pid" 2>/dev/null && wait "$front_pid" 2>/dev/null || true
if grep -v -E "^(TOLERATED|SUMMARY): " "$front_log" >"$FIDELITY_TMP/front-errors"; then
    fail "prism's error answers and cf-front's refusals, in full:"
    sed 's/^/    /' "$FIDELITY_TMP/front-errors" >&2
fi
grep -E "^SUMMARY: " "$front_log" | sed 's/^SUMMARY: /fidelity: cf-front: /' >&2 || true
# What was exercised, ids folded, for the record.
sed -n 's/.*\[HTTP SERVER\] \([a-z]*\) \([^ ?]*\).*Request received.*/\1 \2/p' "$prism_log" |
    sed -E 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/{guid}/g' |
    sort | uniq -c | sed 's/^/    /' >&2
forwarded=$(grep -c "Forwarding" "$prism_log" || true)
[ "$forwarded" -gt 0 ] || fail "prism forwarded nothing"

if [ "$failures" -gt 0 ]; then
    say "prism-cf: $failures failure(s)"
    exit 1
fi
say "prism-cf: no violations in $forwarded forwarded requests"
