#!/usr/bin/env python3
"""berth's benchmark (issue 7): berth side by side with peers that do what the vendors' CLIs do.

One command starts `berth sim` (release binary) on a free loopback port with a thin TCP
recorder in front of it, and runs, each several times, alternating:

  * mittwald install, the simulator's time-to-ready at 0 s, 2.3 s, 5.4 s, 10.6 s and 30.5 s
    (between the peer's reads, so neither side is favoured by a whole second): berth versus
    bench/mw-peer.mjs (the mw CLI's flow on @mittwald/api-client: pick the version, POST, GET
    every second until current == desired);
  * mittwald install, 30.5 s, with under half and with a tenth of the rate-limit window left
    (berth only: the peer ignores the budget, its figures are those of the 30.5 s case);
  * Cloud Foundry create + upload + start, staging 5 s and start 3 s: berth versus
    bench/cf-peer.py (the cf CLI v6's flow on cloudfoundry-client, polling every 3 s);
  * the same with a big app: about 300 MB of incompressible files (generated afresh for each
    repetition, not timed), staging and start 1 s each: peak memory and wall time of the upload
    (berth streams the zip from a temporary file; the simulator streams it to disk).
  * Cloud Foundry v3 (the simulator with v2 switched off, berth with BERTH_CF_API=v3), the same
    create + upload + start, and the same app pushed again with nothing changed (after an
    unmeasured first push of each tool's own, staging and start at 0 s): berth versus
    bench/cf3-peer.py (the cf CLI v8's push on cloudfoundry-client's v3 API, polling every 3 s,
    which like cf push uploads, stages and restarts again). Restarts (stop, start and restart
    requests) and packages and builds are counted from what the simulator received.

Per run: wall time, wall time minus the simulator's own time (the overhead), requests the
simulator received, CPU time (user + sys) and peak resident memory of the process (wait4's
rusage), and the time from process start to the first byte of its first request (seen by the
recorder). Also the release binary's size and the cold and warm build times. Results go to a
markdown file (BENCHMARKS.md) and a JSON file (bench/results.json).

It installs its peers itself (npm ci into bench/node_modules, a venv in bench/.venv) and needs
python3 (3.11+, stdlib only), node (18+), npm, a C compiler (cc, for bench/launch.c: see there why)
and cargo. Talks only to 127.0.0.1. Every wait is bounded (a run: its platform time + 90 s).

usage:
  python3 bench/run.py            full run: cold + warm build, every case (under 10 min)
  python3 bench/run.py --short    CI: one repetition of the 0 s mittwald case, no build timing
  python3 bench/run.py --render bench/results.json   rewrite BENCHMARKS.md from saved results
  options: --reps N (cases under 10 s; default 5), --reps-long N (10.6 s and 30.5 s; default 3),
           --reps-cf N (each Cloud Foundry case; default 3), --reps-low N (each budget case; default 1),
           --reps-big N (the 300 MB Cloud Foundry case; default 1),
           --json PATH, --markdown PATH, --binary PATH (skip the builds, use that binary),
           --skip-build-times (use target/release/berth, building it if missing),
           --rev COMMIT (build that commit, exported with git archive, not the working tree),
           --cases KEY,... (mw-0s, mw-2.3s, mw-5.4s, mw-10.6s, mw-30.5s, mw-30.5s-ordinary-budget,
                            mw-30.5s-low-budget, cf-5s-3s, cf-300mb, cf3-5s-3s, cf3-noop,
                            cf3-restart, cf3-rolling),
           --check-targets (exit 1 when berth misses a target)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import http.client
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
VENV = BENCH / ".venv"
COLD_TARGET = BENCH / ".target"

TOKEN = "sim-token"
PROJECT = "p-bench01"
CF_USER, CF_PASSWORD = "admin", "admin-password"
SPACE = "6f0a3d1e-5b7c-4e2a-9f10-2d3c4b5a6e7f"
RATE_LIMIT, RATE_WINDOW_MS = 600, 60_000
LOW_BUDGET = RATE_LIMIT // 10  # X-RateLimit-Remaining when the "low budget" case starts: a tenth
ORDINARY_BUDGET = 250  # ... when the "ordinary budget" case starts: under half, over a tenth
RUN_SLACK_S = 90  # a run may take this much longer than the platform's own time
RESULTS_VERSION = 1

# (key, label, the simulator's time-to-ready in seconds). Besides 0 s (start-up, CPU, memory),
# times that are not whole seconds: a 1 s poller's delay then is neither 0 nor a full second.
MITTWALD_CASES = [
    ("mw-0s", "mittwald install, ready after 0 s", 0),
    ("mw-2.3s", "mittwald install, ready after 2.3 s", 2.3),
    ("mw-5.4s", "mittwald install, ready after 5.4 s", 5.4),
    ("mw-10.6s", "mittwald install, ready after 10.6 s", 10.6),
    ("mw-30.5s", "mittwald install, ready after 30.5 s", 30.5),
]
# The budget cases: the longest install, where the pace matters most, with less of the window left.
BUDGET_READY_S = 30.5
BUDGET_PEER_CASE = "mw-30.5s"  # the peer ignores the budget: its figures come from this case
ORDINARY_CASE = "mw-30.5s-ordinary-budget"
LOW_CASE = "mw-30.5s-low-budget"
BIG_CASE = "cf-300mb"
BIG_APP_MB = 300  # the big app's size: incompressible files, so the zip is as large
CF_ORG, CF_SPACE = "berth-org", "dev"  # the simulator's default org and space, by name
CF3_NOOP = "cf3-noop"
CASE_KEYS = [key for key, _, _ in MITTWALD_CASES] + [ORDINARY_CASE, LOW_CASE, "cf-5s-3s", BIG_CASE, "cf3-5s-3s",
                                                     CF3_NOOP, "cf3-restart", "cf3-rolling"]


def log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Setup: peers, builds, machine


def run_checked(argv, *, cwd=ROOT, env=None, timeout=600, what=None):
    started = time.monotonic()
    result = subprocess.run(argv, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchError(
            f"{what or ' '.join(map(str, argv))} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return time.monotonic() - started, result.stdout


def install_peers() -> dict:
    """npm ci into bench/node_modules and a venv in bench/.venv, each only when out of date."""
    took = {}
    lock = (BENCH / "package-lock.json").read_text()
    marker = BENCH / "node_modules" / ".bench-lock"
    if not marker.exists() or marker.read_text() != lock:
        log("installing the Node.js peer's packages (npm ci)")
        took["npm_ci_s"], _ = run_checked(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(BENCH)], timeout=300
        )
        marker.write_text(lock)
    requirements = (BENCH / "requirements.txt").read_text()
    marker = VENV / ".bench-requirements"
    if not marker.exists() or marker.read_text() != requirements:
        log("installing the Python peer's packages (venv + pip)")
        started = time.monotonic()
        if VENV.exists():
            shutil.rmtree(VENV)
        run_checked([sys.executable, "-m", "venv", str(VENV)], timeout=120)
        run_checked(
            [str(venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "-r", str(BENCH / "requirements.txt")],
            timeout=300,
        )
        took["pip_install_s"] = time.monotonic() - started
        marker.write_text(requirements)
    return took


def venv_python() -> Path:
    return VENV / "bin" / "python"


def cargo_env(target_dir: Path | None) -> dict:
    env = dict(os.environ)
    if target_dir is not None:
        env["CARGO_TARGET_DIR"] = str(target_dir)
    return env


def default_target_dir() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR")
    return Path(target) if target else ROOT / "target"


def prepare_source(rev: str | None) -> tuple[Path, dict]:
    """The source to build: the working tree, or with --rev a clean export of that commit (so
    that edits in progress in the working tree do not leak into the figures)."""
    head = first_line(["git", "-C", str(ROOT), "rev-parse", "--short", rev or "HEAD"])
    if rev is None:
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=60,
        ).stdout.strip() != ""
        return ROOT, {"source": "working tree", "commit": head, "uncommitted_changes": dirty}
    source = WORK / "src"
    source.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", "--format=tar", rev], stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", str(source)], stdin=archive.stdout, capture_output=True, timeout=120)
    archive.stdout.close()
    if archive.wait(timeout=120) != 0 or untar.returncode != 0:
        raise BenchError(f"git archive {rev} failed: {untar.stderr.decode(errors='replace')}")
    return source, {"source": f"git archive {rev}", "commit": head, "uncommitted_changes": False}


def cargo_build(source: Path, target_dir: Path | None) -> float:
    took, _ = run_checked(["cargo", "build", "--release", "--locked"], cwd=source,
                          env=cargo_env(target_dir), timeout=1800)
    return took


def build_times(source: Path) -> tuple[Path, dict]:
    """A cold release build in a fresh target dir, then a warm one after touching src/main.rs.

    The crates are already downloaded (cargo fetch first), so "cold" is compiling only.
    Returns the binary built (copied out of the cold target dir, which is removed).
    """
    log("fetching crates (not timed)")
    run_checked(["cargo", "fetch", "--locked"], cwd=source, timeout=600)
    if COLD_TARGET.exists():
        shutil.rmtree(COLD_TARGET)
    log("cold release build in a fresh target dir (about 75 s on a quiet machine)")
    load_cold = os.getloadavg()[0]
    cold = cargo_build(source, COLD_TARGET)
    log(f"cold build: {cold:.1f} s; warm rebuild after touching src/main.rs")
    os.utime(source / "src" / "main.rs")
    load_warm = os.getloadavg()[0]
    warm = cargo_build(source, COLD_TARGET)
    log(f"warm build: {warm:.1f} s")
    binary = WORK / "berth"
    shutil.copy2(COLD_TARGET / "release" / "berth", binary)
    shutil.rmtree(COLD_TARGET)
    return binary, {
        "cold_build_s": cold,
        "warm_build_s": warm,
        "load_before_cold_build": load_cold,
        "load_before_warm_build": load_warm,
        "rustc_wrapper": os.environ.get("RUSTC_WRAPPER") or None,
    }


def ensure_release_binary(source: Path) -> tuple[Path, dict]:
    """target/release/berth of the working tree, built when missing; with --rev a build of the
    exported commit in bench/.target."""
    if source != ROOT:
        log(f"release build of {source}")
        took = cargo_build(source, COLD_TARGET)
        binary = WORK / "berth"
        shutil.copy2(COLD_TARGET / "release" / "berth", binary)
        return binary, {"build_s": took}
    binary = default_target_dir() / "release" / "berth"
    if binary.exists():
        return binary, {}
    log(f"{binary} is missing: cargo build --release --locked")
    return binary, {"build_s": cargo_build(ROOT, None)}


def first_line(argv) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    package = json.loads(
        (BENCH / "node_modules" / "@mittwald" / "api-client" / "package.json").read_text()
    )
    cf_client = subprocess.run(
        [str(venv_python()), "-c", "from importlib.metadata import version; print(version('cloudfoundry-client'))"],
        capture_output=True, text=True, timeout=60,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": f"{platform.system()} {platform.release()}",
        "rustc": first_line(["rustc", "--version"]),
        "node": first_line(["node", "--version"]),
        "python": platform.python_version(),
        "mittwald_api_client": package["version"],
        "cloudfoundry_client": cf_client,
    }


def cpu_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores, /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------
# The simulator and the recorder in front of it


class Sim:
    def __init__(self, binary: Path):
        WORK.mkdir(parents=True, exist_ok=True)
        self.log_path = WORK / "sim.log"
        self.log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(binary), "sim", "--listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT,
            env=child_env({}),
        )
        deadline = time.monotonic() + 20
        while True:
            text = self.log_path.read_text(errors="replace")
            match = re.search(r"mittwald API v2 at http://127\.0\.0\.1:(\d+)", text)
            if match:
                self.port = int(match.group(1))
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"berth sim did not start:\n{text}")
            time.sleep(0.02)
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method: str, path: str, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"content-type": "application/json"} if data is not None else {}
        all_headers.update(headers or {})
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=data, headers=all_headers)
                response = self.connection.getresponse()
                payload = response.read()
                return response.status, payload
            except (http.client.HTTPException, OSError):
                # A kept-alive connection the server closed: open a new one, once.
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def control(self, method: str, path: str, body=None):
        status, payload = self.request(method, f"/__sim/{path}", body)
        if status >= 300:
            raise BenchError(f"{method} /__sim/{path}: {status} {payload[:500]!r}")
        return json.loads(payload) if payload else None

    def reset_budget(self, left: int) -> None:
        """Starts a fresh rate-limit window with `left` requests of RATE_LIMIT left."""
        self.control("PATCH", "options", {"rate_limit": RATE_LIMIT, "rate_window_ms": 0})
        # With a zero window the next platform request opens a new one...
        self.request("GET", "/v2/apps", headers={"x-access-token": TOKEN})
        self.control("PATCH", "options", {"rate_window_ms": RATE_WINDOW_MS})
        # ...which that request has used once; spend the rest that should be gone.
        for _ in range(max(RATE_LIMIT - 1 - left, 0)):
            self.request("GET", "/v2/apps", headers={"x-access-token": TOKEN})
        self.control("DELETE", "requests")

    def cf_downtime(self, name: str) -> float:
        """The seconds the app named `name` had no running instance since it first ran."""
        apps = [a for a in self.control("GET", "cf/apps") if a.get("entity", {}).get("name") == name]
        if len(apps) != 1:
            raise BenchError(f"expected one app named {name}, found {len(apps)}")
        return self.control("GET", f"cf/downtime/{apps[0]['metadata']['guid']}")["seconds"]

    def delete_cf_apps(self, name: str) -> None:
        """Deletes the Cloud Foundry apps named `name` (and with them their packages)."""
        auth = {"authorization": f"bearer {TOKEN}"}
        status, payload = self.request("GET", f"/cf/v2/apps?q=name:{name}", headers=auth)
        if status != 200:
            raise BenchError(f"listing the apps named {name}: {status} {payload[:300]!r}")
        for app in json.loads(payload)["resources"]:
            self.request("DELETE", f"/cf/v2/apps/{app['metadata']['guid']}", headers=auth)

    def peak_rss_kib(self) -> int | None:
        """The simulator's peak resident memory so far (Linux's VmHWM), if known."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) if match else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log_file.close()


class Recorder:
    """A byte-for-byte TCP relay in front of the simulator that notes, per run, when the first
    byte of the first request arrived (time.monotonic) and how many connections were opened."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.first_byte: float | None = None
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="recorder", daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self.handle, "127.0.0.1", 0), self.loop
        ).result(timeout=10)
        self.port = self.server.sockets[0].getsockname()[1]

    def reset(self) -> None:
        self.first_byte = None
        self.connections = 0

    async def handle(self, reader, writer):
        self.connections += 1
        # Read the client's first bytes while the upstream connection is being opened, so the
        # time noted is when they arrived, not when the relay was ready for them.
        upstream = asyncio.ensure_future(asyncio.open_connection("127.0.0.1", self.upstream_port))
        try:
            first = await reader.read(65536)
        except (ConnectionError, OSError):
            first = b""
        if first and self.first_byte is None:
            self.first_byte = time.monotonic()
        try:
            up_reader, up_writer = await upstream
        except OSError:
            writer.close()
            return
        if not first:
            up_writer.close()
            writer.close()
            return
        for stream in (writer, up_writer):
            sock = stream.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up_writer.write(first)

        async def pipe(source, sink):
            try:
                while True:
                    data = await source.read(65536)
                    if not data:
                        break
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                try:
                    sink.close()
                except (ConnectionError, OSError, RuntimeError):
                    pass

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def stop(self) -> None:
        self.server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------
# One run of one tool


def child_env(extra: dict) -> dict:
    """The harness's environment without anything that would steer the children elsewhere: no
    BERTH_* of the caller, no CI output files, no proxies."""
    drop = {"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH"}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("BERTH_")
        and key not in drop
        and not key.lower().endswith("_proxy")
        and not key.startswith("CF_")
        and not key.startswith("NODE_OPTIONS")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def build_launcher() -> Path:
    """Compiles bench/launch.c (see there why the children are not started from Python)."""
    launcher = WORK / "launch"
    compiler = os.environ.get("CC", "cc")
    run_checked([compiler, "-O2", "-o", str(launcher), str(BENCH / "launch.c")], timeout=120,
                what=f"{compiler} bench/launch.c")
    return launcher


def measure(launcher: Path, argv, env, timeout_s, label) -> dict:
    """Runs argv under the launcher; returns wall time, rusage and where its output went."""
    run_dir = WORK / "runs"
    run_dir.mkdir(parents=True, exist_ok=True)
    stdout_path = run_dir / f"{label}.stdout"
    stderr_path = run_dir / f"{label}.stderr"
    report_path = run_dir / f"{label}.rusage.json"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(
            [str(launcher), str(report_path), str(int(timeout_s)), *map(str, argv)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=BENCH,
            start_new_session=True,
        )
        try:
            # The launcher kills the command at timeout_s; this is the backstop for the launcher.
            process.wait(timeout=timeout_s + 15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
    try:
        report = json.loads(report_path.read_text())
    except (OSError, ValueError) as error:
        raise BenchError(f"{label}: the launcher wrote no report ({error}); "
                         f"stderr: {stderr_path.read_text(errors='replace')[-1000:]}") from None
    return {
        "exit": report["exit"],
        "timed_out": report["signal"] == signal.SIGKILL,
        "started": report["started"],
        "wall_s": report["ended"] - report["started"],
        "cpu_s": report["user_s"] + report["sys_s"],
        "user_s": report["user_s"],
        "sys_s": report["sys_s"],
        "max_rss_kib": report["max_rss_kib"],
        "stdout": stdout_path.read_text(errors="replace"),
        "stderr_tail": stderr_path.read_text(errors="replace")[-2000:],
    }


UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def request_kinds(requests) -> dict:
    kinds: dict[str, int] = {}
    for request in requests:
        path = UUID_RE.sub("{id}", request["path"])
        path = re.sub(r"/p-[a-z0-9]+", "/{project}", path)
        key = f"{request['method']} {path}"
        kinds[key] = kinds.get(key, 0) + 1
    return kinds


RESTART_RE = re.compile(r"^POST /cf/v3/apps/[^/]+/actions/(start|stop|restart)$")
STAGE_RE = re.compile(r"^POST /cf/v3/(packages|builds)$")


def restarts(requests) -> int:
    """Stop, start and restart requests (Cloud Controller v3) among what the simulator received."""
    return sum(1 for r in requests if RESTART_RE.match(f"{r['method']} {r['path']}"))


def stagings(requests) -> int:
    """Packages and builds created (Cloud Controller v3) among what the simulator received."""
    return sum(1 for r in requests if STAGE_RE.match(f"{r['method']} {r['path']}"))


def tool_command(case: dict, tool: str, base: str, name: str, timeout_s: int,
                 release: str | None = None) -> tuple[list, dict]:
    """The argv and environment of one run of `tool` in `case` against `base`."""
    if case["provider"] == "cloudfoundry-v3":
        if tool == "berth":
            return [str(case["binary"])], child_env({
                "BERTH_PROVIDER": "cloudfoundry", "BERTH_CF_API": "v3", "BERTH_API_URL": f"{base}/cf",
                "BERTH_CF_USERNAME": CF_USER, "BERTH_CF_PASSWORD": CF_PASSWORD,
                "BERTH_CF_ORG": CF_ORG, "BERTH_CF_SPACE": CF_SPACE, "BERTH_NAME": name,
                "BERTH_PATH": str(case["app_dir"]), "BERTH_STATE": "STARTED",
                "BERTH_WAIT_TIMEOUT": f"{timeout_s}s",
                **({"BERTH_STRATEGY": case["strategy"], "BERTH_ENVIRONMENT": f"RELEASE={release}"}
                   if case.get("strategy") and release else {}),
            })
        return [str(venv_python()), str(BENCH / "cf3-peer.py"), f"{base}/cf", CF_USER, CF_PASSWORD,
                CF_ORG, CF_SPACE, name, str(case["app_dir"]), str(timeout_s)], child_env({})
    raise BenchError(f"no command for {case['provider']}")


def prime(sim: Sim, case: dict, tool: str, name: str, label: str) -> str | None:
    """The unmeasured first push of an unchanged re-run case: the app as `tool` leaves it,
    staging and start at 0 s. Returns why it failed, or None."""
    sim.control("PATCH", "options", case["prime_options"])
    argv, env = tool_command(case, tool, f"http://127.0.0.1:{sim.port}", name, RUN_SLACK_S)
    result = measure(case["launcher"], argv, env, RUN_SLACK_S, label)
    if result["exit"] != 0 or result["timed_out"]:
        return (f"the unmeasured first push failed: exit {result['exit']}"
                f"{' (timed out)' if result['timed_out'] else ''}; stdout: {result['stdout'][-500:]!r}; "
                f"stderr: {result['stderr_tail'][-1500:]!r}")
    return None


def one_run(sim: Sim, recorder: Recorder, case: dict, tool: str, rep: int) -> dict:
    unique = f"bench-{case['key']}-{tool}-{rep}-{uuid.uuid4().hex[:6]}"
    if case.get("prime_options") is not None:
        problem = prime(sim, case, tool, unique, f"{case['key']}-{tool}-{rep}-first-push")
        if problem is not None:
            return {"case": case["key"], "tool": tool, "rep": rep, "name": unique, "ok": False,
                    "error": problem, "cpu_s": 0.0}
    sim.control("PATCH", "options", case["options"])
    sim.reset_budget(case["budget"])
    recorder.reset()
    base = f"http://127.0.0.1:{recorder.port}"
    timeout_s = math.ceil(case["platform_s"]) + RUN_SLACK_S  # whole seconds: berth's input
    downtime_before = None
    if case.get("strategy"):
        downtime_before = sim.cf_downtime(unique)
    if case["provider"] == "cloudfoundry-v3":
        argv, env = tool_command(case, tool, base, unique, timeout_s, release=uuid.uuid4().hex[:8])
    elif case["provider"] == "mittwald":
        if tool == "berth":
            argv = [str(case["binary"])]
            env = child_env({
                "BERTH_PROVIDER": "mittwald", "BERTH_API_URL": base, "BERTH_API_TOKEN": TOKEN,
                "BERTH_PROJECT_ID": PROJECT, "BERTH_APP": "node", "BERTH_DESCRIPTION": unique,
                "BERTH_WAIT_TIMEOUT": f"{timeout_s}s",
            })
        else:
            argv = ["node", str(BENCH / "mw-peer.mjs"), base, TOKEN, PROJECT, unique, str(timeout_s)]
            env = child_env({})
    else:
        if tool == "berth":
            argv = [str(case["binary"])]
            env = child_env({
                "BERTH_PROVIDER": "cloudfoundry", "BERTH_API_URL": f"{base}/cf",
                "BERTH_CF_USERNAME": CF_USER, "BERTH_CF_PASSWORD": CF_PASSWORD,
                "BERTH_SPACE_GUID": SPACE, "BERTH_NAME": unique, "BERTH_PATH": str(case["app_dir"]),
                "BERTH_STATE": "STARTED", "BERTH_WAIT_TIMEOUT": f"{timeout_s}s",
                **case.get("berth_env", {}),
            })
        else:
            argv = [str(venv_python()), str(BENCH / "cf-peer.py"), f"{base}/cf", CF_USER, CF_PASSWORD,
                    SPACE, unique, str(case["app_dir"]), str(timeout_s)]
            env = child_env({})
    result = measure(case["launcher"], argv, env, timeout_s, f"{case['key']}-{tool}-{rep}")
    requests = sim.control("GET", "requests")
    if downtime_before is not None:
        result["downtime_s"] = sim.cf_downtime(unique) - downtime_before
    if case.get("big_app_mb"):
        # Its package is a few hundred MB on the simulator's disk: gone with the app.
        sim.delete_cf_apps(unique)
    first = recorder.first_byte
    result.update({
        "case": case["key"],
        "tool": tool,
        "rep": rep,
        "name": unique,
        "requests": len(requests),
        "request_kinds": request_kinds(requests),
        "restarts": restarts(requests),
        "stagings": stagings(requests),
        "connections": recorder.connections,
        "overhead_s": result["wall_s"] - case["platform_s"],
        "first_request_ms": (first - result["started"]) * 1000 if first is not None else None,
    })
    del result["started"]
    ok = result["exit"] == 0 and not result["timed_out"]
    try:
        line = json.loads(result["stdout"].strip().splitlines()[-1])
    except (ValueError, IndexError):
        line = None
    if ok and (not isinstance(line, dict) or line.get("status") != "ready"):
        ok = False
    result["ok"] = ok
    if not ok:
        result["error"] = (
            f"exit {result['exit']}{' (timed out)' if result['timed_out'] else ''}; "
            f"stdout: {result['stdout'][-500:]!r}; stderr: {result['stderr_tail'][-1500:]!r}"
        )
    del result["stdout"]
    if ok:
        del result["stderr_tail"]
    return result


# ---------------------------------------------------------------------------------------------
# Cases, summaries, targets, output


def make_cases(args, binary: Path, launcher: Path, app_dir: Path) -> list[dict]:
    cases = []
    for key, label, seconds in MITTWALD_CASES:
        if args.short and seconds != 0:
            continue
        cases.append({
            "key": key, "label": label, "provider": "mittwald", "tools": ["berth", "mw-peer"],
            "platform_s": seconds, "budget": RATE_LIMIT - 1,
            "reps": 1 if args.short else (args.reps_long if seconds >= 10 else args.reps),
            "options": {"time_to_ready_ms": round(seconds * 1000)},
        })
    if not args.short:
        for key, left in ((ORDINARY_CASE, ORDINARY_BUDGET), (LOW_CASE, LOW_BUDGET)):
            cases.append({
                "key": key,
                "label": f"mittwald install, ready after {BUDGET_READY_S:g} s, {left} of {RATE_LIMIT} requests left",
                "provider": "mittwald", "tools": ["berth"], "platform_s": BUDGET_READY_S, "budget": left,
                "reps": args.reps_low, "options": {"time_to_ready_ms": round(BUDGET_READY_S * 1000)},
            })
        cases.append({
            "key": "cf-5s-3s",
            "label": "Cloud Foundry v2 create + upload + start, staging 5 s, start 3 s",
            "provider": "cloudfoundry", "tools": ["berth", "cf-peer"], "platform_s": 8,
            "budget": RATE_LIMIT - 1, "reps": args.reps_cf,
            # The v2 flow, as the cf CLI v6 peer's (berth's default, auto, would take v3).
            "berth_env": {"BERTH_CF_API": "v2"},
            "options": {"cf_staging_time_ms": 5000, "cf_startup_time_ms": 3000, "cf_job_time_ms": 0,
                        "cf_v2_disabled": False},
        })
        v3 = {"cf_staging_time_ms": 5000, "cf_startup_time_ms": 3000, "cf_job_time_ms": 0, "cf_v2_disabled": True}
        cases.append({
            "key": "cf3-5s-3s",
            "label": "Cloud Foundry v3 create + upload + start, staging 5 s, start 3 s",
            "provider": "cloudfoundry-v3", "tools": ["berth", "cf3-peer"], "platform_s": 8,
            "budget": RATE_LIMIT - 1, "reps": args.reps_cf, "options": v3,
        })
        cases.append({
            "key": CF3_NOOP,
            "label": "Cloud Foundry v3, the same app pushed again unchanged (staging 5 s, start 3 s if done)",
            "provider": "cloudfoundry-v3", "tools": ["berth", "cf3-peer"], "platform_s": 0,
            "budget": RATE_LIMIT - 1, "reps": args.reps_cf, "options": v3,
            "prime_options": v3 | {"cf_staging_time_ms": 0, "cf_startup_time_ms": 0},
        })
        # The same running app given a new environment: a restart against a rolling deployment,
        # and the seconds it had no running instance.
        for strategy in ("restart", "rolling"):
            cases.append({
                "key": f"cf3-{strategy}",
                "label": f"Cloud Foundry v3, a running app's new environment goes live by {strategy} "
                         "(start 3 s)",
                "provider": "cloudfoundry-v3", "tools": ["berth"], "platform_s": 3,
                "budget": RATE_LIMIT - 1, "reps": args.reps_cf, "options": v3,
                "prime_options": v3 | {"cf_staging_time_ms": 0, "cf_startup_time_ms": 0},
                "strategy": strategy,
            })
        cases.append({
            "key": BIG_CASE,
            "label": f"Cloud Foundry v2 create + upload + start of a {BIG_APP_MB} MB app (incompressible), "
                     "staging 1 s, start 1 s",
            "provider": "cloudfoundry", "tools": ["berth", "cf-peer"], "platform_s": 2,
            "budget": RATE_LIMIT - 1, "reps": args.reps_big, "big_app_mb": BIG_APP_MB,
            # The v2 flow, as the peer's: the same upload request on both sides.
            "berth_env": {"BERTH_CF_API": "v2"},
            "options": {"cf_staging_time_ms": 1000, "cf_startup_time_ms": 1000, "cf_job_time_ms": 0,
                        "cf_v2_disabled": False},
        })
    if args.cases:
        wanted = [key.strip() for key in args.cases.split(",") if key.strip()]
        unknown = sorted(set(wanted) - {case["key"] for case in cases})
        if unknown:
            raise BenchError(f"unknown case(s) {', '.join(unknown)} (mode has {', '.join(c['key'] for c in cases)})")
        cases = [case for case in cases if case["key"] in wanted]
    for case in cases:
        case["binary"] = binary
        case["launcher"] = launcher
        case["app_dir"] = app_dir
    return cases


def make_big_app(directory: Path, megabytes: int) -> Path:
    """The small app plus `megabytes` MB of random bytes in files of 10 MB (assets/part-NN.bin)."""
    if directory.exists():
        shutil.rmtree(directory)
    make_app(directory)
    assets = directory / "assets"
    assets.mkdir()
    left, part = megabytes * 1_000_000, 0
    while left > 0:
        size = min(left, 10_000_000)
        with open(assets / f"part-{part:02}.bin", "wb") as out:
            for _ in range(size // 1_000_000):
                out.write(os.urandom(1_000_000))
            out.write(os.urandom(size % 1_000_000))
        left -= size
        part += 1
    return directory


def make_app(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "package.json").write_text(
        '{"name": "bench-app", "version": "1.0.0", "scripts": {"start": "node server.js"}}\n'
    )
    (directory / "server.js").write_text(
        "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT || 8080);\n"
    )
    return directory


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


METRICS = ["wall_s", "overhead_s", "requests", "cpu_s", "max_rss_kib", "first_request_ms", "connections",
           "restarts", "stagings", "downtime_s"]


def summarize(runs) -> dict:
    summary: dict = {}
    for run in runs:
        summary.setdefault(run["case"], {}).setdefault(run["tool"], []).append(run)
    return {
        case: {tool: {metric: stats([r.get(metric) for r in rs if r["ok"]]) for metric in METRICS}
               | {"runs": len(rs), "failed": sum(not r["ok"] for r in rs)}
               for tool, rs in tools.items()}
        for case, tools in summary.items()
    }


def med(summary, case, tool, metric):
    try:
        return summary[case][tool][metric]["median"]
    except (KeyError, TypeError):
        return None


def targets(summary, binary_size, runs) -> list[dict]:
    out = []

    def add(name, value, goal, met, note=""):
        out.append({"target": name, "berth": value, "goal": goal, "met": met, "note": note})

    # With the budget plentiful, waiting must not lose to the mw CLI's 1 s poller, at no more than
    # the two requests berth adds (the list before the POST, the look for a racing twin after).
    for case, tools in summary.items():
        if "mw-peer" not in tools:
            continue
        overhead, peer = med(summary, case, "berth", "overhead_s"), med(summary, case, "mw-peer", "overhead_s")
        if overhead is not None and peer is not None:
            add(f"overhead median, {case}", f"{overhead * 1000:.0f} ms vs peer {peer * 1000:.0f} ms",
                "≤ the peer's", overhead <= peer)
        requests, peer = med(summary, case, "berth", "requests"), med(summary, case, "mw-peer", "requests")
        if requests is not None and peer is not None:
            add(f"requests, {case}", f"{requests:g} vs peer {peer:g}", "≤ the peer's + 2", requests <= peer + 2)
    for case, tools in summary.items():
        overhead = med(summary, case, "berth", "overhead_s")
        if case.startswith(("cf-", "cf3-")) and case not in (BIG_CASE, CF3_NOOP) and overhead is not None:
            add(f"overhead median, {case}", f"{overhead * 1000:.0f} ms", "≤ 1000 ms", overhead <= 1.0)
    # A big app must not cost its size in memory: the zip is built in a file and streamed.
    rss_big = med(summary, BIG_CASE, "berth", "max_rss_kib")
    if rss_big is not None:
        add(f"peak memory, {BIG_CASE}", f"{rss_big / 1024:.1f} MiB", "≤ 64 MiB, flat whatever the app's size",
            rss_big <= 64 * 1024)
    # A rolling deployment keeps an instance running throughout, and sends no stop or restart.
    rolling_runs = [run for run in runs if run["case"] == "cf3-rolling" and run["tool"] == "berth" and run["ok"]]
    if rolling_runs:
        worst = max(run.get("downtime_s") or 0.0 for run in rolling_runs)
        add(f"seconds without a running instance, cf3-rolling (all {len(rolling_runs)} berth runs)",
            f"at most {worst:.2f} s", "0", worst == 0)
    # An unchanged re-run changes nothing: no package, no build, no stop or start, within a second.
    noop_runs = [run for run in runs if run["case"] == CF3_NOOP and run["tool"] == "berth" and run["ok"]]
    if noop_runs:
        worst = max(run["restarts"] + run["stagings"] for run in noop_runs)
        add(f"{CF3_NOOP}: packages, builds, stops and starts (all {len(noop_runs)} berth runs)",
            f"at most {worst}", "0", worst == 0)
        wall, peer_wall = med(summary, CF3_NOOP, "berth", "wall_s"), med(summary, CF3_NOOP, "cf3-peer", "wall_s")
        add(f"wall time median, {CF3_NOOP}", f"{wall * 1000:.0f} ms"
            + (f" vs peer {peer_wall:.1f} s" if peer_wall is not None else ""), "≤ 1000 ms", wall <= 1.0)
        requests, peer = med(summary, CF3_NOOP, "berth", "requests"), med(summary, CF3_NOOP, "cf3-peer", "requests")
        if requests is not None and peer is not None:
            add(f"requests, {CF3_NOOP}", f"{requests:g} vs peer {peer:g}", "≤ the peer's", requests <= peer)
    # With a tenth of the window or less left, the budget is spared (the limit is per user, shared
    # by all of their jobs): a third of the peer's requests at most, latency notwithstanding.
    peer_long = med(summary, BUDGET_PEER_CASE, "mw-peer", "requests")
    low = med(summary, LOW_CASE, "berth", "requests")
    if low is not None and peer_long:
        add(f"requests, {LOW_CASE} ({LOW_BUDGET} of {RATE_LIMIT} left)",
            f"{low:g} vs peer {peer_long:g} ({low / peer_long:.0%})", "≤ 1/3 of the peer's", low * 3 <= peer_long)
    for case, tools in summary.items():
        if "mw-peer" not in tools:
            continue
        cpu, cpu_peer = med(summary, case, "berth", "cpu_s"), med(summary, case, "mw-peer", "cpu_s")
        if cpu is not None and cpu_peer:
            add(f"CPU time, {case}", f"{cpu * 1000:.0f} ms vs Node.js peer {cpu_peer * 1000:.0f} ms "
                f"({cpu / cpu_peer:.1%})", "≤ 1/10 of the Node.js peer's", cpu <= cpu_peer / 10)
        rss, rss_peer = med(summary, case, "berth", "max_rss_kib"), med(summary, case, "mw-peer", "max_rss_kib")
        if rss is not None and rss_peer:
            add(f"peak memory, {case}", f"{rss / 1024:.1f} MiB vs Node.js peer {rss_peer / 1024:.1f} MiB "
                f"({rss / rss_peer:.1%})", "≤ 1/5 of the Node.js peer's", rss <= rss_peer / 5)
    if binary_size is not None:
        # Issue 14 raised it from 6 MB: SSH (russh with RSA for mittwald's host keys) and the
        # simulator's SSH endpoint.
        add("release binary", f"{binary_size / 1e6:.2f} MB ({binary_size:,} bytes)", "< 8 MB (8,000,000 bytes)",
            binary_size < 8_000_000)
    # Start-up does not depend on the case: pooled per provider, so one slow start on a shared
    # machine does not decide a case of two runs.
    for provider, label in (("mw-", "mittwald"), ("cf", "Cloud Foundry")):
        firsts = [run["first_request_ms"] for run in runs if run["tool"] == "berth" and run["ok"]
                  and run["case"].startswith(provider) and run["first_request_ms"] is not None]
        if firsts:
            first = statistics.median(firsts)
            add(f"first request, {label} (all {len(firsts)} berth runs)",
                f"{first:.1f} ms (min {min(firsts):.1f}, max {max(firsts):.1f})", "≤ 10 ms", first <= 10.0)
    plenty = med(summary, BUDGET_PEER_CASE, "berth", "requests")
    ordinary = med(summary, ORDINARY_CASE, "berth", "requests")
    if plenty is not None and ordinary is not None and low is not None:
        add("requests fall with the budget", f"{plenty:g} with {RATE_LIMIT - 1} left, {ordinary:g} with "
            f"{ORDINARY_BUDGET}, {low:g} with {LOW_BUDGET}", "plentiful ≥ ordinary ≥ low",
            plenty >= ordinary >= low, "X-RateLimit-Remaining read to pace the polling")
    return out


def fmt(stat, scale=1.0, digits=2, unit=""):
    if stat is None:
        return "–"
    median, low, high = (stat["median"] * scale, stat["min"] * scale, stat["max"] * scale)
    if stat["n"] == 1 or (round(low, digits) == round(high, digits)):
        return f"{median:.{digits}f}{unit}"
    return f"{median:.{digits}f}{unit} ({low:.{digits}f}–{high:.{digits}f})"


TOOL_NAMES = {
    "berth": "berth",
    "mw-peer": "Node.js peer (mw CLI flow)",
    "cf-peer": "Python peer (cf CLI v6 flow)",
    "cf3-peer": "Python peer (cf CLI v8 flow, v3)",
}


def markdown(results: dict) -> str:
    m = results["machine"]
    s = results["summary"]
    lines = []
    add = lines.append
    mode = "short run" if results["short"] else "full run"
    add("# Benchmarks")
    add("")
    add("berth side by side with peers that do what the vendors' CLIs do, against berth's built-in")
    add("simulator on loopback (issue 7). Written by `bench/run.py`; do not edit by hand.")
    add("")
    took = results["duration_s"]
    took_text = f"{took:.0f} s" if took < 120 else f"{took / 60:.1f} min"
    add(f"- Run: {results['finished_at']}, {mode}, {took_text} in all, setup and builds included "
        f"({results['runs_total']} runs, {results['runs_failed']} failed).")
    add(f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; {m['rustc']}; "
        f"node {m['node'].lstrip('v')}, Python {m['python']}; @mittwald/api-client {m['mittwald_api_client']}, "
        f"cloudfoundry-client {m['cloudfoundry_client']}.")
    load = results["load"]
    add(f"- Load: load average (1 min) {load['start']:.2f} at the start, {load['before_runs']:.2f} before the "
        f"runs{' (still high from the builds just done)' if 'cold_build_s' in results['build'] else ''}, at most {load.get('max_during_runs', load['end']):.2f} during them; other work "
        f"kept {load.get('others_cores_during_runs', 0.0):.2f} of the {m['cores']} cores busy on average during "
        f"the runs (the benchmark itself, simulator included: {load.get('own_cores_during_runs', 0.0):.2f})." + (
            " **The machine was loaded** (other engineers' builds), so wall times, first-request times and "
            "build times are pessimistic; CPU time, memory and request counts are hardly affected."
            if results["loaded"] else " The machine was quiet."))
    src = results["source"]
    if "commit" in src:
        dirty = " plus uncommitted changes" if src.get("uncommitted_changes") else ""
        add(f"- berth: built from {src['source']} (commit {src['commit']}{dirty}).")
    else:
        add(f"- berth: {src['source']}.")
    add(f"- This run: `{results['command']}`. Reproduce: `python3 bench/run.py` (full: cold and warm build, "
        "every case, under 10 minutes on a quiet machine); `python3 bench/run.py --short` (one repetition of "
        "the 0 s case, as CI runs it).")
    add("")
    add("Each cell: median (min–max) over the runs. Overhead is wall time minus the simulator's own time "
        "(time-to-ready; for Cloud Foundry staging + start, the upload job finishing at once). Requests: "
        "what the simulator received (token and login requests included). CPU: user + sys of the process. "
        "Memory: peak resident set (wait4's ru_maxrss; each process is started by the small C launcher "
        f"`bench/launch.c`, whose own image is the floor: {results['memory_floor_kib'] / 1024:.1f} MiB for "
        "`true`). First request: process start (just before fork) to the first byte of its first request "
        "at a TCP recorder in front of the simulator. Each run starts a fresh rate-limit window of "
        f"{RATE_LIMIT} requests a minute ({LOW_BUDGET} left in the low-budget case).")
    add("")
    add("## Targets")
    add("")
    add("| target | berth | goal | met |")
    add("|---|---|---|---|")
    for t in results["targets"]:
        add(f"| {t['target']} | {t['berth']} | {t['goal']} | {'yes' if t['met'] else '**no**'} |")
    add("")
    add("## Per case")
    add("")
    add("| case | tool | runs | wall s | overhead s | requests | CPU ms | peak memory MiB | first request ms |")
    add("|---|---|---|---|---|---|---|---|---|")
    for case in results["cases"]:
        for tool in case["tools"]:
            t = s.get(case["key"], {}).get(tool)
            if t is None:
                continue
            runs = f"{t['runs']}" + (f" ({t['failed']} failed)" if t["failed"] else "")
            add(f"| {case['label']} | {TOOL_NAMES[tool]} | {runs} | {fmt(t['wall_s'])} | {fmt(t['overhead_s'])} | "
                f"{fmt(t['requests'], digits=0)} | {fmt(t['cpu_s'], 1000, 0)} | {fmt(t['max_rss_kib'], 1 / 1024, 1)} | "
                f"{fmt(t['first_request_ms'], digits=1)} |")
    big = next((case for case in results["cases"] if case["key"] == BIG_CASE), None)
    if big is not None:
        add("")
        b_rss = med(s, BIG_CASE, "berth", "max_rss_kib")
        p_rss = med(s, BIG_CASE, "cf-peer", "max_rss_kib")
        peer_runs = s.get(BIG_CASE, {}).get("cf-peer", {})
        add(f"The {big['big_app_mb']} MB case: berth zips `BERTH_PATH` into a temporary file and streams it "
            "from there, so its peak memory does not follow the app's size"
            + (f" ({b_rss / 1024:.1f} MiB here)" if b_rss is not None else "")
            + ". The Python peer uploads through cloudfoundry-client, which hands the zip to `requests`; "
            "`requests` builds the whole multipart body in memory"
            + (f", hence its {p_rss / 1024:.0f} MiB" if p_rss is not None else "")
            + (f" ({peer_runs['failed']} of its {peer_runs['runs']} runs failed)" if peer_runs.get("failed") else "")
            + ". The simulator streams each package to disk (SHA-256 computed on the way)"
            + (f"; its own peak over the whole benchmark was {results['sim_peak_rss_kib'] / 1024:.1f} MiB"
               if results.get("sim_peak_rss_kib") else "") + ".")
    add("")
    add("## The polling trade")
    add("")
    add("Waiting costs requests; polling less often costs latency. Per case, berth's and the peer's")
    add("median overhead against their median requests (the peers poll at a fixed interval: 1 s for")
    add("mittwald, 3 s for Cloud Foundry; mittwald's budget is per user, shared by all their jobs).")
    add("")
    add("berth's pause between reads is one formula of the time waited and the share of the rate-limit")
    add("window left (`src/wait.rs`). With more than half of the window left and under a minute waited")
    add("it reads once a second, as the mw CLI does: a reader that is neither later nor dearer than a")
    add("1 s poller whenever the installation turns ready must read when it reads, so berth's edge on")
    add("the plentiful cases is its start (milliseconds, not a Node.js start) and its two extra")
    add("requests are the list before the POST and the look for a racing twin. Past a minute the")
    add("pause grows with the time waited (a sixtieth of it). Below half of the window it grows with")
    add("the square of how far below half: a quarter left, 4 s; a tenth or less, the 20 s cap, so a")
    add("user's other jobs keep the budget at the price of up to 20 s of latency. Cloud Foundry sends")
    add("no rate-limit headers: there berth starts at 0.5 s and grows to the cf CLI's 3 s.")
    add("")
    add("| case | berth overhead s | berth requests | peer overhead s | peer requests |")
    add("|---|---|---|---|---|")
    for case in results["cases"]:
        peer = next((tool for tool in case["tools"] if tool != "berth"), None)
        if case["key"] in (LOW_CASE, ORDINARY_CASE):
            peer = "mw-peer"
            peer_case = BUDGET_PEER_CASE
        else:
            peer_case = case["key"]
        b_o, b_r = med(s, case["key"], "berth", "overhead_s"), med(s, case["key"], "berth", "requests")
        p_o = med(s, peer_case, peer, "overhead_s") if peer else None
        p_r = med(s, peer_case, peer, "requests") if peer else None
        cell = lambda v, d: "–" if v is None else f"{v:.{d}f}"  # noqa: E731
        note = (f" (peer: the {BUDGET_READY_S:g} s case; it ignores the budget)"
                if case["key"] in (LOW_CASE, ORDINARY_CASE) else "")
        add(f"| {case['label']}{note} | {cell(b_o, 2)} | {cell(b_r, 0)} | {cell(p_o, 2)} | {cell(p_r, 0)} |")
    add("")
    noop = s.get(CF3_NOOP, {})
    if noop:
        add("## Cloud Foundry v3: the same app pushed again, unchanged")
        add("")
        add("After a first push of its own (not measured), each tool pushes the same directory with the same")
        add("settings again. berth compares the source's fingerprint and the settings with what the app")
        add("already runs and leaves it alone; the cf CLI v8, like its peer here, uploads a new package,")
        add("stages it and restarts the app (downtime while the instances start again).")
        add("")
        add("| tool | runs | wall s | requests | restarts (stop, start, restart) | packages + builds |")
        add("|---|---|---|---|---|---|")
        for tool in ("berth", "cf3-peer"):
            t = noop.get(tool)
            if t is None:
                continue
            runs = f"{t['runs']}" + (f" ({t['failed']} failed)" if t["failed"] else "")
            add(f"| {TOOL_NAMES[tool]} | {runs} | {fmt(t['wall_s'])} | {fmt(t['requests'], digits=0)} | "
                f"{fmt(t.get('restarts'), digits=0)} | {fmt(t.get('stagings'), digits=0)} |")
        add("")
    rollout = [(key, s.get(key, {}).get("berth")) for key in ("cf3-restart", "cf3-rolling")]
    if any(t for _, t in rollout):
        add("## Cloud Foundry v3: a running app's change goes live by restart or rolling deployment")
        add("")
        add("After a first push (not measured), berth is run again with a new environment variable, which")
        add("takes effect only when instances start again: with `BERTH_STRATEGY=restart` the app restarts,")
        add("with `rolling` a deployment replaces its instances one by one. The simulator counts the")
        add("seconds the app had no running instance.")
        add("")
        add("| strategy | runs | wall s | requests | restarts (stop, start, restart) | seconds without a running instance |")
        add("|---|---|---|---|---|---|")
        for key, t in rollout:
            if t is None:
                continue
            runs = f"{t['runs']}" + (f" ({t['failed']} failed)" if t["failed"] else "")
            add(f"| {key.removeprefix('cf3-')} | {runs} | {fmt(t['wall_s'])} | {fmt(t['requests'], digits=0)} | "
                f"{fmt(t.get('restarts'), digits=0)} | {fmt(t.get('downtime_s'))} |")
        add("")
    add("## Binary and builds")
    add("")
    b = results["build"]
    size = results.get("binary_size")
    add("| what | value |")
    add("|---|---|")
    if size is not None:
        add(f"| release binary (`opt-level = \"z\"`, LTO, stripped) | {size / 1e6:.2f} MB ({size:,} bytes) |")
    if "cold_build_s" in b:
        add(f"| cold release build (fresh target dir, crates already downloaded) | {b['cold_build_s']:.0f} s "
            f"(load {b['load_before_cold_build']:.2f} before) |")
        add(f"| warm release build (after `touch src/main.rs`) | {b['warm_build_s']:.0f} s "
            f"(load {b['load_before_warm_build']:.2f} before) |")
    else:
        add("| cold and warm build | not measured in this run (`--skip-build-times`, `--binary` or `--short`) |")
    for key, what in (("npm_ci_s", "npm ci (Node.js peer)"), ("pip_install_s", "venv + pip install (Python peer)")):
        if key in results["setup"]:
            add(f"| {what} | {results['setup'][key]:.0f} s |")
    add("")
    add("## What one run sends")
    add("")
    add("The requests of each tool's first run per case, by method and path:")
    add("")
    add("| case | tool | requests |")
    add("|---|---|---|")
    seen = set()
    for run in results["runs"]:
        if (run["case"], run["tool"]) in seen or not run["ok"]:
            continue
        seen.add((run["case"], run["tool"]))
        kinds = ", ".join(f"{kind} ×{n}" if n > 1 else kind for kind, n in run["request_kinds"].items())
        add(f"| {run['case']} | {TOOL_NAMES[run['tool']]} | {kinds} |")
    add("")
    add(f"Raw runs and request breakdowns: `{results['json_path']}`.")
    add("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def main(argv) -> int:
    parser = argparse.ArgumentParser(description="berth's benchmark (see the module docstring)")
    parser.add_argument("--short", action="store_true", help="one repetition of the 0 s case (CI)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of the mittwald cases under 10 s")
    parser.add_argument("--reps-long", type=int, default=3, help="repetitions of the 10.6 s and 30.5 s cases")
    parser.add_argument("--reps-cf", type=int, default=3, help="repetitions of the Cloud Foundry case")
    parser.add_argument("--reps-low", type=int, default=1, help="repetitions of each budget case")
    parser.add_argument("--reps-big", type=int, default=1, help="repetitions of the 300 MB Cloud Foundry case")
    parser.add_argument("--json", type=Path, help="default: bench/results.json (short: bench/.work/short.json)")
    parser.add_argument("--markdown", type=Path, help="default: BENCHMARKS.md (short: bench/.work/short.md)")
    parser.add_argument("--binary", type=Path, help="use this berth binary; no build timing")
    parser.add_argument("--skip-build-times", action="store_true", help="use target/release/berth")
    parser.add_argument("--rev", help="build this commit (git archive) instead of the working tree")
    parser.add_argument("--cases", help="comma-separated case keys to run (default: all of the mode): "
                        + ", ".join(CASE_KEYS))
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="only write the markdown again from a results JSON (targets recomputed)")
    parser.add_argument("--check-targets", action="store_true", help="exit 1 when berth misses a target")
    args = parser.parse_args(argv[1:])
    for name in ("reps", "reps_long", "reps_cf", "reps_low", "reps_big"):
        if not 1 <= getattr(args, name) <= 50:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 50")
    json_path = args.json or (WORK / "short.json" if args.short else BENCH / "results.json")
    md_path = args.markdown or (WORK / "short.md" if args.short else ROOT / "BENCHMARKS.md")
    if args.render:
        results = json.loads(args.render.read_text())
        results["targets"] = targets(results["summary"], results.get("binary_size"), results["runs"])
        args.render.write_text(json.dumps(results, indent=1) + "\n")
        md_path.write_text(markdown(results))
        log(f"wrote {md_path} from {args.render}")
        return 0

    began = time.monotonic()
    load = {"start": os.getloadavg()[0]}
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    setup = install_peers()
    source, source_info = prepare_source(args.rev)
    if args.binary:
        binary, build = args.binary.resolve(), {}
        source_info = {"source": f"given binary {args.binary}"}
    elif args.short or args.skip_build_times:
        binary, build = ensure_release_binary(source)
    else:
        binary, build = build_times(source)
    binary_size = binary.stat().st_size
    info = machine()
    app_dir = make_app(WORK / "app")
    launcher = build_launcher()
    floor = measure(launcher, ["true"], child_env({}), 10, "launcher-floor")["max_rss_kib"]
    cases = make_cases(args, binary, launcher, app_dir)

    load["before_runs"] = os.getloadavg()[0]
    sim = Sim(binary)
    recorder = Recorder(sim.port)
    runs = []
    busy_before, own_before, runs_began = cpu_busy_seconds(), sum(os.times()[:2]), time.monotonic()
    sim_peak_rss_kib = None
    try:
        total = sum(case["reps"] * len(case["tools"]) for case in cases)
        for case in cases:
            for rep in range(case["reps"]):
                if case.get("big_app_mb"):
                    log(f"{case['key']} #{rep + 1}: writing {case['big_app_mb']} MB of random files (not timed)")
                    case["app_dir"] = make_big_app(WORK / "app-big", case["big_app_mb"])
                # Alternate who goes first, so drift in the machine's load hits both alike.
                tools = case["tools"] if rep % 2 == 0 else list(reversed(case["tools"]))
                for tool in tools:
                    run = one_run(sim, recorder, case, tool, rep)
                    runs.append(run)
                    log(f"[{len(runs)}/{total}] {case['key']} {tool} #{rep + 1}: "
                        + (f"{run['wall_s']:.2f} s, {run['requests']} requests, "
                           f"cpu {run['cpu_s'] * 1000:.0f} ms, rss {run['max_rss_kib'] / 1024:.1f} MiB, "
                           f"first request {run['first_request_ms'] or float('nan'):.1f} ms"
                           if run["ok"] else f"FAILED: {run['error']}"))
                    load["max_during_runs"] = max(load.get("max_during_runs", 0.0), os.getloadavg()[0])
        # Other work on the machine meanwhile: everything busy less this harness, its children
        # (the launchers' figures are too small to matter) and the simulator.
        elapsed = time.monotonic() - runs_began
        own = (sum(os.times()[:2]) - own_before) + sum(run["cpu_s"] for run in runs)
        own += process_cpu_seconds(sim.process.pid)
        sim_peak_rss_kib = sim.peak_rss_kib()
        others = max(cpu_busy_seconds() - busy_before - own, 0.0)
        load["others_cores_during_runs"] = others / elapsed if elapsed > 0 else 0.0
        load["own_cores_during_runs"] = own / elapsed if elapsed > 0 else 0.0
    finally:
        recorder.stop()
        sim.stop()
        shutil.rmtree(WORK / "app-big", ignore_errors=True)
    load["end"] = os.getloadavg()[0]

    summary = summarize(runs)
    loaded = load["start"] >= 1.5 or load.get("others_cores_during_runs", 0.0) >= 0.5
    results = {
        "version": RESULTS_VERSION,
        "short": args.short,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": time.monotonic() - began,
        "command": " ".join(["python3", "bench/run.py", *argv[1:]]),
        "machine": info,
        "load": load,
        "loaded": loaded,
        "setup": setup,
        "build": build,
        "source": source_info,
        "binary": os.path.relpath(binary, ROOT),
        "binary_size": binary_size,
        "memory_floor_kib": floor,
        "sim_peak_rss_kib": sim_peak_rss_kib,
        "json_path": os.path.relpath(json_path, ROOT),
        "cases": [{k: v for k, v in case.items() if k not in ("binary", "launcher", "app_dir")} for case in cases],
        "runs_total": len(runs),
        "runs_failed": sum(not run["ok"] for run in runs),
        "summary": summary,
        "targets": targets(summary, binary_size, runs),
        "runs": runs,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(markdown(results))
    log(f"wrote {md_path} and {json_path} in {results['duration_s']:.0f} s")
    print(markdown(results))
    # The plain closing line CI reads: each run is a check that the tool got the app ready.
    print(f"bench: {len(runs) - results['runs_failed']} passed, {results['runs_failed']} failed", flush=True)
    if results["runs_failed"]:
        log(f"{results['runs_failed']} run(s) failed; logs in {WORK / 'runs'}")
        return 1
    missed = [t for t in results["targets"] if not t["met"]]
    if missed:
        log("berth misses: " + "; ".join(f"{t['target']}: {t['berth']} (goal {t['goal']})" for t in missed))
        if args.check_targets:
            return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except BenchError as error:
        log(f"FAILED: {error}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
