#!/usr/bin/env python3
"""The benchmark's Cloud Foundry v3 peer: what `cf push` of the cf CLI v8 does for one app, on
cloudfoundry-client's v3 API (its managers, and its generic helpers where it has no method).

As cf CLI v8 (cloudfoundry/cli, actor/v7action and actor/v7pushaction; polling interval 3 s,
util/configv3 DefaultPollingInterval):
  1. log in through UAA with a password; the org and the space by name (`cf target -o -s`):
     GET /v3/organizations?names=, GET /v3/spaces?names=&organization_guids=;
  2. the app by name in the space, GET /v3/apps?names=&space_guids=; created when missing
     (POST /v3/apps), reused as it is otherwise;
  3. a bits package (POST /v3/packages), the zip uploaded (multipart `bits` + `resources`),
     then PollPackage: sleep 3 s, read, until READY;
  4. staging: POST /v3/builds, then PollBuild: read at once and every 3 s until STAGED, then
     the droplet (GET /v3/droplets/:guid);
  5. PATCH the current droplet, POST .../actions/restart (push's RestartApplication: on a
     running app the Cloud Controller stops and starts it; the CLI stops separately only with
     --no-start);
  6. PollStart: the app's processes, then their stats at once and every 3 s until each process
     has no instances or one RUNNING (all CRASHED is a failure).
A push of an app that did not change does all of it again, as cf push does: new package,
upload, build, restart.

Not done, because the simulator does not serve them (so this peer sends fewer requests and
waits less than the real CLI, never more): the manifest cf push v8 always applies first
(POST /v3/spaces/:guid/actions/apply_manifest and its job, polled every 3 s), resource matching
(POST /v3/resource_matches, sent whenever a file is not empty), routes (GET /v3/domains,
/v3/routes, the default route and its mapping) and the staging log stream.

One JSON line on stdout; any error or a timeout exits non-zero.

usage: cf3-peer.py API_URL USER PASSWORD ORG SPACE NAME APP_DIR [TIMEOUT_SECONDS]
"""

import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from cloudfoundry_client.client import CloudFoundryClient
from cloudfoundry_client.v3.packages import PackageType

POLL_SECONDS = 3.0


class Deadline:
    def __init__(self, seconds):
        self.at = time.monotonic() + seconds
        self.seconds = seconds

    def sleep(self, what):
        if time.monotonic() + POLL_SECONDS > self.at:
            raise RuntimeError(f"{what} not done within {self.seconds} s")
        time.sleep(POLL_SECONDS)


def zip_directory(directory, archive):
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bits:
        for root, _dirs, files in os.walk(directory):
            for name in sorted(files):
                path = Path(root) / name
                bits.write(path, path.relative_to(directory))


def only(items, what):
    items = list(items)
    if len(items) != 1:
        raise RuntimeError(f"{what}: {len(items)} found")
    return items[0]


def main(argv):
    if len(argv) < 8:
        print(__doc__, file=sys.stderr)
        return 2
    api, user, password, org_name, space_name, name, app_dir = argv[1:8]
    deadline = Deadline(float(argv[8]) if len(argv) > 8 else 120.0)

    client = CloudFoundryClient(api.rstrip("/"))
    client.init_with_user_credentials(user, password)
    v3 = client.v3
    base = v3.apps.target_endpoint

    org = only(v3.organizations.list(names=org_name), f"organization {org_name}")
    space = only(v3.spaces.list(names=space_name, organization_guids=org["guid"]), f"space {space_name}")
    existing = [a for a in v3.apps.list(names=name, space_guids=space["guid"]) if a["name"] == name]
    if existing:
        app = existing[0]
    else:
        app = v3.apps._create({"name": name, "relationships": {"space": {"data": {"guid": space["guid"]}}}})
    guid = app["guid"]

    package = v3.packages.create(guid, PackageType.BITS)
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "package.zip"
        zip_directory(app_dir, archive)
        with open(archive, "rb") as bits:
            answer = client.post(f"{base}/v3/packages/{package['guid']}/upload",
                                 files={"bits": ("package.zip", bits, "application/zip"), "resources": (None, "[]")})
    package = answer.json()
    while package["state"] not in ("READY", "FAILED", "EXPIRED"):
        deadline.sleep(f"package {package['guid']}")
        package = v3.packages.get(package["guid"])
    if package["state"] != "READY":
        raise RuntimeError(f"package {package['guid']} ended {package['state']}")

    build = v3.apps._post(f"{base}/v3/builds", data={"package": {"guid": package["guid"]}})
    while True:
        build = v3.apps._get(f"{base}/v3/builds/{build['guid']}")
        if build["state"] == "FAILED":
            raise RuntimeError(f"staging failed: {build['error']}")
        if build["state"] == "STAGED":
            break
        deadline.sleep(f"build {build['guid']}")
    droplet = v3.droplets.get(build["droplet"]["guid"])

    v3.apps._patch(f"{base}/v3/apps/{guid}/relationships/current_droplet", {"data": {"guid": droplet["guid"]}})
    v3.apps._post(f"{base}/v3/apps/{guid}/actions/restart")

    # PollStart / PollProcesses: per process in order, its stats; one with no instances or one
    # RUNNING is stable; all CRASHED fails; otherwise this round ends there.
    processes = list(v3.apps._list(f"/v3/apps/{guid}/processes"))
    while True:
        stable = 0
        for process in processes:
            states = [i["state"] for i in v3.processes.get(process["guid"], "stats")["resources"]]
            if not states or "RUNNING" in states:
                stable += 1
                continue
            if all(state == "CRASHED" for state in states):
                raise RuntimeError(f"every {process['type']} instance crashed")
            break
        if stable == len(processes):
            break
        deadline.sleep(f"the instances of {name}")

    print(json.dumps({"app_guid": guid, "app_name": name, "droplet_guid": droplet["guid"],
                      "package_guid": package["guid"], "created": not existing, "status": "ready"}), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as error:  # noqa: BLE001 - any failure is the verdict
        print(f"cf3-peer: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
