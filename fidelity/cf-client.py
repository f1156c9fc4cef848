#!/usr/bin/env python3
"""A real Cloud Foundry client (cloudfoundry-client, PyPI) against the simulator.

It discovers the platform from the root links of `{sim}/cf/`, logs in through UAA (password
grant with the cf CLI's client, then a refresh-token grant, then client credentials) and drives
Cloud Controller v2: create an app, read it, update it, list apps by name (following
`next_url` across pages), upload bits and wait for the job, start it and wait for RUNNING
instances (the client's own polling), stop it, delete it. Any error exits non-zero.

usage: python3 cf-client.py SIM_URL [USER PASSWORD [CLIENT_ID CLIENT_SECRET]]
(the defaults are `berth sim`'s accounts)
"""

import sys
import tempfile
import time
import uuid
import zipfile
from http import HTTPStatus
from importlib.metadata import version
from pathlib import Path

from cloudfoundry_client.client import CloudFoundryClient
from cloudfoundry_client.errors import InvalidStatusCode

SPACE = "6f0a3d1e-5b7c-4e2a-9f10-2d3c4b5a6e7f"
JOB_WITHIN_SECONDS = 30
START_WITHIN_SECONDS = 60


def step(text):
    print(f"cf-client: {text}", flush=True)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_status(status, call):
    try:
        call()
    except InvalidStatusCode as error:
        check(error.status_code == status, f"expected {status}, got {error}")
        return error
    raise AssertionError(f"expected {status}, got a success")


def wait_for_job(client, job):
    guid = job["metadata"]["guid"]
    deadline = time.monotonic() + JOB_WITHIN_SECONDS
    statuses = [job["entity"]["status"]]
    for _ in range(JOB_WITHIN_SECONDS * 10):
        if time.monotonic() > deadline:
            break
        job = client.v2.jobs.get(guid)
        status = job["entity"]["status"]
        if statuses[-1] != status:
            statuses.append(status)
        if status == "finished":
            return statuses
        check(status in ("queued", "running"), f"job {guid} ended {status}: {job}")
        time.sleep(0.1)
    raise AssertionError(f"job {guid} did not finish within {JOB_WITHIN_SECONDS} s: {statuses}")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    sim = argv[1].rstrip("/")
    user, password = (argv[2], argv[3]) if len(argv) >= 4 else ("admin", "admin-password")
    client_id, client_secret = (argv[4], argv[5]) if len(argv) >= 6 else ("berth-ci", "berth-ci-secret")
    api = f"{sim}/cf"
    step(f"cloudfoundry-client {version('cloudfoundry-client')} against {api}")

    client = CloudFoundryClient(api)
    check(client.info.api_v2_url == f"{api}/v2", f"v2 link: {client.info.api_v2_url}")
    check(client.info.authorization_endpoint == f"{sim}/uaa", f"login link: {client.info.authorization_endpoint}")
    client.init_with_user_credentials(user, password)
    check(client.refresh_token, "the password grant gave no refresh token")
    step(f"logged in as {user} through {client.info.authorization_endpoint}")

    name = f"fidelity-{uuid.uuid4().hex[:8]}"
    app = client.v2.apps.create(
        name=name,
        space_guid=SPACE,
        memory=256,
        instances=2,
        environment_json={"GREETING": "hello"},
        health_check_type="port",
    )
    guid = app["metadata"]["guid"]
    entity = app["entity"]
    check(entity["name"] == name and entity["space_guid"] == SPACE, f"created: {entity}")
    check(entity["state"] == "STOPPED" and entity["package_state"] == "PENDING", f"created: {entity}")
    step(f"created {name} ({guid})")

    read = client.v2.apps.get(guid)
    check(read["entity"]["memory"] == 256 and read["entity"]["instances"] == 2, f"read: {read}")
    check(read["entity"]["environment_json"] == {"GREETING": "hello"}, f"read: {read}")

    updated = client.v2.apps.update(guid, memory=512, command="node server.js", instances=1)
    check(updated["entity"]["memory"] == 512, f"updated: {updated}")
    check(updated["entity"]["command"] == "node server.js", f"updated: {updated}")
    step("read and updated it")

    taken = expect_status(
        HTTPStatus.BAD_REQUEST, lambda: client.v2.apps.create(name=name, space_guid=SPACE)
    )
    check(taken.body.get("error_code") == "CF-AppNameTaken", f"name taken: {taken.body}")

    others = [client.v2.apps.create(name=f"{name}-{n}", space_guid=SPACE) for n in range(3)]
    by_name = list(client.v2.apps.list(name=name))
    check([a["metadata"]["guid"] for a in by_name] == [guid], f"by name: {by_name}")
    by_both = list(client.v2.apps.list(space_guid=SPACE, name=name))
    check(len(by_both) == 1, f"by space and name: {by_both}")
    paged = list(client.v2.apps.list(space_guid=SPACE, **{"results-per-page": 2}))
    check(len(paged) == 4, f"two pages of two: {[a['entity']['name'] for a in paged]}")
    space_apps = list(client.v2.apps._list(f"/v2/spaces/{SPACE}/apps", name=f"{name}-1"))
    check(len(space_apps) == 1, f"apps of the space: {space_apps}")
    newest = client.v2.apps.get_first(space_guid=SPACE, **{"order-direction": "desc"})
    check(newest["metadata"]["guid"] == others[-1]["metadata"]["guid"], f"newest: {newest}")
    step("listed by name, by space and name, across pages, newest first")

    with tempfile.TemporaryDirectory() as directory:
        archive = Path(directory) / "app.zip"
        with zipfile.ZipFile(archive, "w") as bits:
            bits.writestr("package.json", '{"name": "fidelity", "scripts": {"start": "node server.js"}}')
            bits.writestr("server.js", "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT)")
        job = client.v2.apps.upload(guid, [], str(archive), asynchronous=True)
    statuses = wait_for_job(client, job)
    step(f"uploaded bits: job {' -> '.join(statuses)}")

    client.v2.apps.start(guid, check_time=0.2, timeout=START_WITHIN_SECONDS)
    summary = client.v2.apps.get_summary(guid)
    check(summary["running_instances"] == 1, f"summary: {summary}")
    instances = client.v2.apps.get_instances(guid)
    check([i["state"] for i in instances.values()] == ["RUNNING"], f"instances: {instances}")
    started = client.v2.apps.get(guid)["entity"]
    check(started["package_state"] == "STAGED" and started["detected_buildpack"] == "nodejs", f"{started}")
    step("started it: staged with nodejs, one instance RUNNING")

    client.v2.apps.stop(guid, check_time=0.2, timeout=START_WITHIN_SECONDS)
    check(client.v2.apps.get(guid)["entity"]["state"] == "STOPPED", "not stopped")

    # A second client from the refresh token, and one with client credentials.
    refreshed = CloudFoundryClient(api)
    refreshed.init_with_token(client.refresh_token)
    check(refreshed.v2.apps.get(guid)["entity"]["name"] == name, "refresh-token client")
    machine = CloudFoundryClient(api, client_id=client_id, client_secret=client_secret)
    machine.init_with_client_credentials()
    check(len(list(machine.v2.apps.list(name=name))) == 1, "client-credentials client")
    step("refresh-token and client-credentials logins work")

    for app in [read, *others]:
        client.v2.apps.remove(app["metadata"]["guid"])
    gone = expect_status(HTTPStatus.NOT_FOUND, lambda: client.v2.apps.get(guid))
    check(gone.body.get("error_code") == "CF-AppNotFound", f"gone: {gone.body}")
    step("deleted them; all good")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as error:  # noqa: BLE001 - any failure is the verdict
        print(f"cf-client: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
