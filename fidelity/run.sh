#!/usr/bin/env bash
# berth and its simulator against the vendors' own artifacts (issue 6):
#   1. prism.sh: berth's mittwald scenarios and the vendor's JS client through Prism with the
#      full vendor spec, both directions;
#   2. mittwald-client.mjs: the vendor's JS client (@mittwald/api-client) straight at the simulator;
#   3. cf-client.py: a real Cloud Foundry client (cloudfoundry-client) at the simulator, v2;
#   4. cf-client-v3.py: the same client's v3 API at the simulator with v2 switched off;
#   5. prism-cf.sh: that client's v3 API, and berth's v3 scenarios (FIDELITY_BERTH_V3), through
#      Prism with the Cloud Controller's own v3 spec, both directions.
# (The recorded bodies are compared with the simulator's by `cargo test --test fidelity_bodies`.)
#
# Needs, done beforehand: `npm ci --prefix fidelity`, `pip install -r fidelity/requirements.txt`,
# `cargo build`. Talks only to 127.0.0.1. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source fidelity/lib.sh

started=$SECONDS
say "prism $(fidelity/node_modules/.bin/prism --version)," \
    "@mittwald/api-client $(node -p 'require("./fidelity/node_modules/@mittwald/api-client/package.json").version')," \
    "cloudfoundry-client $(python3 -c 'from importlib.metadata import version; print(version("cloudfoundry-client"))')," \
    "node $(node --version), $(python3 --version)"

checks=0
failed=()
# check NAME COMMAND...: one check; its failure is counted and named, the others still run.
check() {
    local name=$1
    shift
    checks=$((checks + 1))
    "$@" || failed+=("$name")
}

say "== 1. berth and @mittwald/api-client through prism"
check prism.sh bash fidelity/prism.sh

start_sim "$FIDELITY_TMP/sim.log"

say "== 2. @mittwald/api-client against $SIM_URL"
check mittwald-client.mjs timeout 120 node fidelity/mittwald-client.mjs "$SIM_URL" >&2

say "== 3. cloudfoundry-client against $SIM_URL/cf"
check cf-client.py timeout 120 python3 fidelity/cf-client.py "$SIM_URL" >&2

say "== 4. cloudfoundry-client v3 against $SIM_URL/cf (v2 switched off)"
check cf-client-v3.py timeout 120 python3 fidelity/cf-client-v3.py "$SIM_URL" >&2

say "== 5. cloudfoundry-client v3 and berth's v3 scenarios through prism"
check prism-cf.sh bash fidelity/prism-cf.sh

say "took $((SECONDS - started)) s"
# The plain summary line CI reads: checks passed and failed.
printf 'fidelity: %d passed, %d failed\n' $((checks - ${#failed[@]})) "${#failed[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    say "FAILED: ${failed[*]}"
    exit 1
fi
