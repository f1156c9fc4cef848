#!/usr/bin/env python3
"""The benchmark's Cloud Foundry peer: what `cf push` of the cf CLI v6 does, on cloudfoundry-client.

Discovers the platform from the root links of API_URL, logs in through UAA with a password,
looks the app up by name in the space, creates it (v2), uploads a small zip (async, following
the job), starts it and reads its instances every 3 s, as the cf CLI v6 does, until one is
RUNNING. One JSON line on stdout; any error or a timeout exits non-zero.

usage: cf-peer.py API_URL USER PASSWORD SPACE_GUID NAME APP_DIR [TIMEOUT_SECONDS]
"""

import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from cloudfoundry_client.client import CloudFoundryClient

POLL_SECONDS = 3.0


def zip_directory(directory, archive):
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bits:
        for root, _dirs, files in os.walk(directory):
            for name in sorted(files):
                path = Path(root) / name
                bits.write(path, path.relative_to(directory))


def main(argv):
    if len(argv) < 7:
        print(__doc__, file=sys.stderr)
        return 2
    api, user, password, space, name, app_dir = argv[1:7]
    timeout = float(argv[7]) if len(argv) > 7 else 120.0
    deadline = time.monotonic() + timeout

    client = CloudFoundryClient(api.rstrip("/"))
    client.init_with_user_credentials(user, password)

    existing = list(client.v2.apps.list(space_guid=space, name=name))
    if existing:
        raise RuntimeError(f"app {name} exists already")
    app = client.v2.apps.create(name=name, space_guid=space)
    guid = app["metadata"]["guid"]

    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "app.zip"
        zip_directory(app_dir, archive)
        job = client.v2.apps.upload(guid, [], str(archive), asynchronous=True)
    # As the cf CLI's PollJob: read the job, then sleep, until it is no longer queued or running.
    job_guid = job["metadata"]["guid"]
    while True:
        job = client.v2.jobs.get(job_guid)
        if job["entity"]["status"] not in ("queued", "running"):
            break
        if time.monotonic() + POLL_SECONDS > deadline:
            raise RuntimeError(f"upload job {job_guid} did not finish within {timeout} s")
        time.sleep(POLL_SECONDS)
    if job["entity"]["status"] != "finished":
        raise RuntimeError(f"upload job {job_guid} ended {job['entity']['status']}")

    # Bounded by the client's own timeout (seconds of waiting, counted in steps of check_time).
    client.v2.apps.start(guid, check_time=POLL_SECONDS, timeout=max(deadline - time.monotonic(), 1.0))
    print(json.dumps({"app_guid": guid, "app_name": name, "status": "ready"}), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as error:  # noqa: BLE001 - any failure is the verdict
        print(f"cf-peer: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
