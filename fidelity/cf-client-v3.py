#!/usr/bin/env python3
"""A real Cloud Foundry client (cloudfoundry-client, PyPI) against the simulator's Cloud Controller v3.

With v2 switched off in the simulator (the default of Cloud Controller since CAPI 1.201.0), it
discovers the platform from the root links (no `cloud_controller_v2` link: the client has no
v2), logs in through UAA, and drives Cloud Controller v3 as far as the client reaches:

  * its own managers: organizations, spaces and stacks (list by names, get, the links between
    them); apps (get, list by names and space across pages, the app's packages, processes,
    routes and droplet links, remove with its job); packages (create bits and docker, get);
    droplets (get); processes (get); domains (by name, every one, an org's and its default);
    routes (create, list by host, domain and path); jobs (wait for completion); the app's
    `start`/`stop` links;
  * its generic helpers (`_create`, `_update`, `_patch`, `_post`, `_list`, `get` with extra
    path segments) where it has no method of its own: app create and update, environment
    variables (merge, null deletes), the ssh feature, process update (command, health check)
    and scale, the bits upload (multipart `bits` + `resources`, as the cf CLI sends it), builds,
    the current droplet, process stats, a route's destinations.

Left out, and why: deployments (the client has no manager for them; berth's rolling strategy is
not among these scenarios), route deletion and the client's `get_env` (`/v3/apps/:guid/env`),
droplet and build lists, tasks, sidecars, revisions, manifests and services (not simulated);
logs (the client reads them through doppler or the RLP gateway, which the simulator does not
serve; it serves log-cache).

Every check asserts what came back (names, guids, states, relationships), not only a 2xx.
With `--api URL` the Cloud Foundry traffic goes to URL (the Prism front of fidelity/prism-cf.sh)
while the simulator's control API stays at SIM_URL. Any error exits non-zero.

usage: python3 cf-client-v3.py SIM_URL [--api CF_URL] [--quick]
  --quick  leave out the pagination and docker parts (the Prism run, to stay short)
"""

import argparse
import hashlib
import io
import json
import re
import sys
import time
import urllib.request
import uuid
import zipfile
from http import HTTPStatus
from importlib.metadata import version

from cloudfoundry_client.client import CloudFoundryClient
from cloudfoundry_client.errors import InvalidStatusCode
from cloudfoundry_client.v3.packages import PackageType

# `berth sim`'s foundation (sim/src/cloudfoundry/foundation.rs) and accounts.
ORG, ORG_NAME = "3c1e5a7b-9d2f-4e6a-8b0c-1d2e3f4a5b6c", "berth-org"
SPACE, SPACE_NAME = "6f0a3d1e-5b7c-4e2a-9f10-2d3c4b5a6e7f", "dev"
STACK_NAME = "cflinuxfs4"
DOMAIN, DOMAIN_NAME = "7a1c3e5f-2b4d-4f6a-8c0e-9d1b3f5a7c2e", "apps.sim.example"
TCP_DOMAIN_NAME = "tcp.sim.example"
USER, PASSWORD = "admin", "admin-password"
CLIENT_ID, CLIENT_SECRET = "berth-ci", "berth-ci-secret"
WAIT_SECONDS = 30
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def step(text):
    print(f"cf-client-v3: {text}", flush=True)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_error(status, title, call):
    """The call fails with this status and a v3 error of this title; returns the error."""
    try:
        call()
    except InvalidStatusCode as error:
        check(error.status_code == status, f"expected {status}, got {error}")
        errors = error.body.get("errors") if isinstance(error.body, dict) else None
        check(errors and errors[0].get("title") == title, f"expected {title}: {error.body}")
        check(isinstance(errors[0].get("code"), int) and errors[0].get("detail"), f"error body: {error.body}")
        return errors[0]
    raise AssertionError(f"expected {status} {title}, got a success")


def wait_for(what, read, done, failed=lambda _: False):
    """Reads until done(value); fails on failed(value) or after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    seen = []
    while True:
        value = read()
        state = value.get("state") if isinstance(value, dict) else None
        if state is not None and (not seen or seen[-1] != state):
            seen.append(state)
        if done(value):
            return value, seen
        check(not failed(value), f"{what} failed: {value}")
        check(time.monotonic() < deadline, f"{what} not done within {WAIT_SECONDS} s: {seen} {value}")
        time.sleep(0.1)


def sim_options(sim, changes):
    """PATCH /__sim/options; returns the options as they were before."""
    with urllib.request.urlopen(f"{sim}/__sim/options", timeout=10) as answer:
        before = json.load(answer)
    request = urllib.request.Request(
        f"{sim}/__sim/options", data=json.dumps(changes).encode(), method="PATCH",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        check(answer.status == 200, f"PATCH /__sim/options: {answer.status}")
    return {key: before[key] for key in changes}


def node_zip():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bits:
        bits.writestr("package.json", '{"name": "fidelity-v3", "scripts": {"start": "node server.js"}}')
        bits.writestr("server.js", "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT)")
    return out.getvalue()


def places(v3):
    orgs = list(v3.organizations.list(names=ORG_NAME))
    check([o["guid"] for o in orgs] == [ORG] and orgs[0]["name"] == ORG_NAME, f"orgs by name: {orgs}")
    check(list(v3.organizations.list(names="no-such-org")) == [], "an unknown org name lists nothing")
    spaces = list(v3.spaces.list(names=SPACE_NAME, organization_guids=ORG))
    check([s["guid"] for s in spaces] == [SPACE], f"spaces by name and org: {spaces}")
    space = v3.spaces.get(SPACE)
    check(space["name"] == SPACE_NAME, f"space: {space}")
    check(space["relationships"]["organization"]["data"]["guid"] == ORG, f"space's org: {space}")
    # The client turns links into methods: the space's organization link, read through it.
    check(space.organization()["name"] == ORG_NAME, "the space's organization link")
    stacks = list(v3.stacks.list(names=STACK_NAME))
    check([s["name"] for s in stacks] == [STACK_NAME] and GUID.match(stacks[0]["guid"]), f"stacks: {stacks}")
    all_stacks = [s["name"] for s in v3.stacks.list()]
    check(STACK_NAME in all_stacks and len(all_stacks) >= 2, f"every stack: {all_stacks}")
    expect_error(HTTPStatus.NOT_FOUND, "CF-ResourceNotFound", lambda: v3.spaces.get(str(uuid.uuid4())))
    step(f"org {ORG_NAME}, space {SPACE_NAME} and stack {STACK_NAME} by name; links followed")


def create_app(v3, name, **extra):
    data = {"name": name, "relationships": {"space": {"data": {"guid": SPACE}}}, **extra}
    return v3.apps._create(data)


def apps_and_lists(v3, name, quick):
    app = create_app(
        v3, name,
        lifecycle={"type": "buildpack", "data": {"buildpacks": ["nodejs_buildpack"], "stack": STACK_NAME}},
        environment_variables={"GREETING": "hello", "STALE": "yes"},
        metadata={"labels": {"team": "fidelity"}, "annotations": {"note": "created by cf-client-v3"}},
    )
    guid = app["guid"]
    check(GUID.match(guid) and app["name"] == name, f"created: {app}")
    check(app["state"] == "STOPPED", f"a new app is STOPPED: {app}")
    check(app["lifecycle"] == {"type": "buildpack", "data": {"buildpacks": ["nodejs_buildpack"], "stack": STACK_NAME}},
          f"lifecycle: {app['lifecycle']}")
    check(app["relationships"]["space"]["data"]["guid"] == SPACE, f"space: {app['relationships']}")
    check(app["metadata"]["labels"] == {"team": "fidelity"}, f"labels: {app['metadata']}")
    step(f"created {name} ({guid}), STOPPED, buildpack nodejs_buildpack on {STACK_NAME}")

    read = v3.apps.get(guid)
    check(read["guid"] == guid and read["name"] == name and read["state"] == "STOPPED", f"read: {read}")
    check(read.space()["guid"] == SPACE, "the app's space link")
    env = read.environment_variables()
    check(env["var"] == {"GREETING": "hello", "STALE": "yes"}, f"environment: {env}")
    merged = v3.apps._patch(
        f"{v3.apps.target_endpoint}/v3/apps/{guid}/environment_variables",
        {"var": {"GREETING": "hi", "STALE": None, "MODE": "ci"}},
    )
    check(merged["var"] == {"GREETING": "hi", "MODE": "ci"}, f"merged (null deletes): {merged}")
    check(v3.apps.get(guid, "environment_variables")["var"] == {"GREETING": "hi", "MODE": "ci"}, "env read back")

    renamed = v3.apps._update(guid, {"name": f"{name}-renamed", "metadata": {"labels": {"stage": "two"}}})
    check(renamed["name"] == f"{name}-renamed", f"renamed: {renamed}")
    check(renamed["metadata"]["labels"] == {"team": "fidelity", "stage": "two"}, f"labels merged: {renamed}")
    relifed = v3.apps._update(guid, {"name": name, "lifecycle": {"type": "buildpack", "data": {"buildpacks": []}}})
    check(relifed["name"] == name and relifed["lifecycle"]["data"]["buildpacks"] == [], f"auto-detect: {relifed}")
    check(relifed["lifecycle"]["data"]["stack"] == STACK_NAME, f"the stack stays: {relifed}")

    ssh = v3.apps.get(guid, "features", "ssh")
    check(ssh["name"] == "ssh" and ssh["enabled"] is True, f"ssh feature: {ssh}")
    ssh = v3.apps._patch(f"{v3.apps.target_endpoint}/v3/apps/{guid}/features/ssh", {"enabled": False})
    check(ssh["enabled"] is False, f"ssh off: {ssh}")
    enabled = v3.apps.get(guid, "ssh_enabled")
    check(enabled["enabled"] is False and enabled["reason"], f"ssh_enabled: {enabled}")
    step("read it; environment merged (null deletes); renamed and back; buildpacks to auto-detect; ssh off")

    taken = expect_error(HTTPStatus.UNPROCESSABLE_ENTITY, "CF-UniquenessError", lambda: create_app(v3, name))
    check(taken["code"] == 10016, f"uniqueness error code: {taken}")
    expect_error(HTTPStatus.UNPROCESSABLE_ENTITY, "CF-UnprocessableEntity",
                 lambda: v3.apps._update(guid, {"lifecycle": {"type": "docker", "data": {}}}))
    step("a taken name is 422 CF-UniquenessError (10016); the lifecycle type cannot change")

    others = []
    if not quick:
        others = [create_app(v3, f"{name}-{n}") for n in range(3)]
        by_name = list(v3.apps.list(names=name, space_guids=SPACE))
        check([a["guid"] for a in by_name] == [guid], f"by name and space: {by_name}")
        two = list(v3.apps.list(names=[name, f"{name}-1"], space_guids=SPACE, order_by="name"))
        check([a["name"] for a in two] == [name, f"{name}-1"], f"two names, ordered: {[a['name'] for a in two]}")
        mine = [name, *[f"{name}-{n}" for n in range(3)]]
        pages = v3.apps.list(names=mine, per_page=2, order_by="-created_at")
        listed = [a["name"] for a in pages]
        check(pages.total_results == 4, f"total_results: {pages.total_results}")
        check(listed == list(reversed(mine)), f"two pages of two, newest first: {listed}")
        first = v3.apps.get_first(names=mine, order_by="name")
        check(first["name"] == name, f"get_first: {first['name']}")
        check(v3.apps.len(names=mine) == 4, "len by names")
        step("listed by name and space, two names in order, four across two pages newest first")
    return guid, others


def processes(v3, guid):
    web = v3.apps.get(guid, "processes", "web")
    check(web["type"] == "web" and GUID.match(web["guid"]), f"web process: {web}")
    check(web["relationships"]["app"]["data"]["guid"] == guid, f"process's app: {web}")
    check(web["instances"] == 1 and web["memory_in_mb"] > 0, f"defaults: {web}")
    listed = list(v3.apps._list(f"/v3/apps/{guid}/processes"))
    check([p["guid"] for p in listed] == [web["guid"]], f"the app's processes: {listed}")
    same = v3.processes.get(web["guid"])
    check(same["guid"] == web["guid"] and same["type"] == "web", f"process by guid: {same}")
    updated = v3.processes._update(web["guid"], {
        "command": "node server.js",
        "health_check": {"type": "http", "data": {"endpoint": "/health", "timeout": 60, "invocation_timeout": 5}},
    })
    check(updated["command"] == "node server.js", f"command: {updated}")
    check(updated["health_check"]["type"] == "http" and updated["health_check"]["data"]["endpoint"] == "/health",
          f"health check: {updated['health_check']}")
    scaled = v3.processes._post(f"{v3.processes.target_endpoint}/v3/processes/{web['guid']}/actions/scale",
                                data={"instances": 2, "memory_in_mb": 512, "disk_in_mb": 1024})
    check((scaled["instances"], scaled["memory_in_mb"], scaled["disk_in_mb"]) == (2, 512, 1024), f"scaled: {scaled}")
    stats = v3.processes.get(web["guid"], "stats")["resources"]
    check(len(stats) == 2 and all(s["state"] == "DOWN" for s in stats), f"stats while stopped: {stats}")
    step("web process: read (by app and type, by guid, listed), command and http health check, "
         "scaled to 2 x 512 MB, stats DOWN while stopped")
    return web["guid"]


def bits_and_build(client, v3, guid):
    api = v3.packages.target_endpoint
    package = v3.packages.create(guid, PackageType.BITS)
    check(GUID.match(package["guid"]) and package["type"] == "bits", f"package: {package}")
    check(package["state"] == "AWAITING_UPLOAD", f"a new bits package awaits its upload: {package}")
    check(package.app()["guid"] == guid, "the package's app link")
    # No upload method with `resources`: the client's generic POST with its token, as the cf CLI
    # sends it (`bits` named package.zip, `resources` a JSON string of already matched files).
    zipped = node_zip()
    answer = client.post(f"{api}/v3/packages/{package['guid']}/upload",
                         files={"bits": ("package.zip", zipped, "application/zip"), "resources": (None, "[]")})
    uploaded = answer.json()
    check(answer.status_code == HTTPStatus.OK and uploaded["guid"] == package["guid"], f"upload: {uploaded}")
    check(uploaded["state"] in ("PROCESSING_UPLOAD", "READY"), f"after the upload: {uploaded['state']}")
    ready, states = wait_for("the package", lambda: v3.packages.get(package["guid"]),
                             lambda p: p["state"] == "READY", lambda p: p["state"] in ("FAILED", "EXPIRED"))
    checksum = ready["data"]["checksum"]
    check(checksum["type"] == "sha256" and re.fullmatch(r"[0-9a-f]{64}", checksum["value"] or ""), f"{checksum}")
    listed = [p["guid"] for p in v3.apps.list_packages(guid)]
    check(listed == [package["guid"]], f"the app's packages: {listed}")
    step(f"package {' -> '.join(['AWAITING_UPLOAD', *states])}, sha256 checksum; "
         f"{len(zipped)} bytes uploaded ({hashlib.sha256(zipped).hexdigest()[:12]}...)")

    # No builds manager: the generic POST and GET.
    build = v3.apps._post(f"{api}/v3/builds", data={"package": {"guid": package["guid"]}})
    check(build["state"] == "STAGING" and build["package"]["guid"] == package["guid"], f"build: {build}")
    check(build["relationships"]["app"]["data"]["guid"] == guid, f"build's app: {build}")
    built, states = wait_for("the build", lambda: v3.apps._get(f"{api}/v3/builds/{build['guid']}"),
                             lambda b: b["state"] == "STAGED", lambda b: b["state"] == "FAILED")
    droplet_guid = built["droplet"]["guid"]
    droplet = v3.droplets.get(droplet_guid)
    check(droplet["state"] == "STAGED" and droplet["guid"] == droplet_guid, f"droplet: {droplet}")
    check([b["name"] for b in droplet["buildpacks"]] == ["nodejs_buildpack"], f"detected: {droplet['buildpacks']}")
    check(droplet["process_types"].get("web"), f"process types: {droplet['process_types']}")
    check(droplet["links"]["package"]["href"].endswith(f"/v3/packages/{package['guid']}"), f"{droplet['links']}")
    expect_error(HTTPStatus.NOT_FOUND, "CF-ResourceNotFound", lambda: v3.apps.get(guid, "droplets", "current"))
    step(f"build {' -> '.join(states)}: droplet {droplet_guid} (nodejs_buildpack, from that package)")

    current = v3.apps._patch(f"{api}/v3/apps/{guid}/relationships/current_droplet", {"data": {"guid": droplet_guid}})
    check(current["data"]["guid"] == droplet_guid, f"current droplet relationship: {current}")
    check(v3.apps.get(guid, "droplets", "current")["guid"] == droplet_guid, "current droplet")
    return droplet_guid


def routes_and_domains(v3, guid, name):
    domains = list(v3.domains.list(names=DOMAIN_NAME))
    check([(d["guid"], d["name"]) for d in domains] == [(DOMAIN, DOMAIN_NAME)], f"domains by name: {domains}")
    every = [d["name"] for d in v3.domains.list()]
    check(DOMAIN_NAME in every and TCP_DOMAIN_NAME in every, f"every domain: {every}")
    check(DOMAIN_NAME in [d["name"] for d in v3.domains.list_domains_for_org(ORG)], "the org's domains")
    check(v3.organizations.get_default_domain(ORG)["guid"] == DOMAIN, "the org's default domain")
    route = v3.routes.create(SPACE, DOMAIN, host=name, path="/fidelity")
    check(route["host"] == name and route["path"] == "/fidelity", f"route: {route}")
    check(route["url"] == f"{name}.{DOMAIN_NAME}/fidelity", f"route url: {route['url']}")
    check(route["relationships"]["space"]["data"]["guid"] == SPACE, f"route's space: {route['relationships']}")
    check(route["relationships"]["domain"]["data"]["guid"] == DOMAIN, f"route's domain: {route['relationships']}")
    found = list(v3.routes.list(hosts=name, domain_guids=DOMAIN, paths="/fidelity"))
    check([r["guid"] for r in found] == [route["guid"]], f"route by host, domain and path: {found}")
    expect_error(HTTPStatus.UNPROCESSABLE_ENTITY, "CF-UnprocessableEntity",
                 lambda: v3.routes.create(SPACE, DOMAIN, host=name, path="/fidelity"))
    # No destinations method: the generic POST.
    mapped = v3.routes._post(f"{v3.routes.target_endpoint}/v3/routes/{route['guid']}/destinations",
                             data={"destinations": [{"app": {"guid": guid}}]})
    check([d["app"]["guid"] for d in mapped["destinations"]] == [guid], f"destinations: {mapped}")
    check(mapped["destinations"][0]["app"]["process"]["type"] == "web", f"destination process: {mapped}")
    check([r["guid"] for r in v3.apps.list_routes(guid)] == [route["guid"]], "the app's routes")
    step(f"domains (by name, every one, the org's, its default); route {route['url']} created, found by host, "
         "domain and path, taken once, mapped to the app")


def start_and_stop(v3, guid, web):
    app = v3.apps.get(guid)
    started = app.start()  # the app's `start` link (POST), as the client builds it
    check(started["state"] == "STARTED" and started["guid"] == guid, f"started: {started}")
    stats, _ = wait_for(
        "the instances", lambda: v3.processes.get(web, "stats"),
        lambda s: [i["state"] for i in s["resources"]] == ["RUNNING", "RUNNING"],
        lambda s: any(i["state"] == "CRASHED" for i in s["resources"]),
    )
    check(sorted(i["index"] for i in stats["resources"]) == [0, 1], f"indexes: {stats}")
    check(all(i["mem_quota"] == 512 * 1024 * 1024 for i in stats["resources"]), f"quota: {stats}")
    step("started through the app's start link: both instances RUNNING")
    restarted = v3.apps._post(f"{v3.apps.target_endpoint}/v3/apps/{guid}/actions/restart")
    check(restarted["state"] == "STARTED", f"restarted: {restarted}")
    stopped = v3.apps.get(guid).stop()
    check(stopped["state"] == "STOPPED", f"stopped: {stopped}")
    check(v3.apps.get(guid)["state"] == "STOPPED", "stopped read back")
    step("restarted, then stopped through the app's stop link")


def docker(v3, name):
    app = create_app(v3, name, lifecycle={"type": "docker", "data": {}})
    check(app["lifecycle"]["type"] == "docker", f"docker app: {app}")
    # The client's create knows no `data`: the generic create for a docker package.
    package = v3.packages._create({
        "type": "docker", "relationships": {"app": {"data": {"guid": app["guid"]}}},
        "data": {"image": "registry.invalid/fidelity/web:1.0", "username": "robot", "password": "hunter2"},
    })
    check(package["type"] == "docker" and package["state"] == "READY", f"docker package: {package}")
    check(package["data"]["image"] == "registry.invalid/fidelity/web:1.0", f"image: {package['data']}")
    check(package["data"]["username"] == "robot" and package["data"]["password"] == "***", f"{package['data']}")
    build = v3.apps._post(f"{v3.apps.target_endpoint}/v3/builds", data={"package": {"guid": package["guid"]}})
    built, _ = wait_for("the docker build", lambda: v3.apps._get(f"{v3.apps.target_endpoint}/v3/builds/{build['guid']}"),
                        lambda b: b["state"] == "STAGED", lambda b: b["state"] == "FAILED")
    droplet = v3.droplets.get(built["droplet"]["guid"])
    check(droplet["image"] == "registry.invalid/fidelity/web:1.0", f"docker droplet: {droplet}")
    step("docker app: package READY at once (password hidden), build STAGED, droplet with the image")
    return app["guid"]


def remove(v3, guids):
    for guid in guids:
        job = v3.apps.remove(guid)  # 202 with Location: the job's guid
        check(GUID.match(job or ""), f"delete job: {job}")
        done = v3.jobs.wait_for_job_completion(job, step=0.1, step_function=lambda s: s, timeout=WAIT_SECONDS)
        check(done["state"] == "COMPLETE" and done["operation"] == "app.delete", f"job: {done}")
        expect_error(HTTPStatus.NOT_FOUND, "CF-ResourceNotFound", lambda g=guid: v3.apps.get(g))
    step(f"removed {len(guids)} app(s): jobs COMPLETE, then 404 CF-ResourceNotFound")


def main(argv):
    parser = argparse.ArgumentParser(description="cloudfoundry-client's v3 API against berth sim")
    parser.add_argument("sim")
    parser.add_argument("--api", help="the Cloud Foundry URL (default: SIM_URL/cf)")
    parser.add_argument("--quick", action="store_true", help="no pagination, no docker")
    args = parser.parse_args(argv[1:])
    sim = args.sim.rstrip("/")
    api = (args.api or f"{sim}/cf").rstrip("/")
    step(f"cloudfoundry-client {version('cloudfoundry-client')} against {api}, v2 switched off")
    before = sim_options(sim, {"cf_v2_disabled": True})
    try:
        client = CloudFoundryClient(api)
        check(client.info.api_v3_url == f"{api}/v3", f"v3 link: {client.info.api_v3_url}")
        check(client.info.api_v2_url is None, f"no v2 link while v2 is off: {client.info.api_v2_url}")
        client.init_with_user_credentials(USER, PASSWORD)
        check(client.refresh_token, "the password grant gave no refresh token")
        v3 = client.v3
        step(f"logged in as {USER} through {client.info.authorization_endpoint}; no v2 link")

        places(v3)
        name = f"fidelity-v3-{uuid.uuid4().hex[:8]}"
        guid, others = apps_and_lists(v3, name, args.quick)
        web = processes(v3, guid)
        bits_and_build(client, v3, guid)
        routes_and_domains(v3, guid, name)
        start_and_stop(v3, guid, web)
        if not args.quick:
            others.append({"guid": docker(v3, f"{name}-docker")})

        refreshed = CloudFoundryClient(api)
        refreshed.init_with_token(client.refresh_token)
        check(refreshed.v3.apps.get(guid)["name"] == name, "refresh-token client")
        machine = CloudFoundryClient(api, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        machine.init_with_client_credentials()
        check([a["guid"] for a in machine.v3.apps.list(names=name, space_guids=SPACE)] == [guid], "client credentials")
        step("refresh-token and client-credentials logins read it too")

        remove(v3, [guid, *[o["guid"] for o in others]])
    finally:
        sim_options(sim, before)
    step("all good")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as error:  # noqa: BLE001 - any failure is the verdict
        print(f"cf-client-v3: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
