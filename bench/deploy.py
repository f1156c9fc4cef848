#!/usr/bin/env python3
"""berth's deploy benchmark (issue 14): berth's mittwald deploy over SSH versus `rsync -a` over
`ssh` (what `mw app upload` runs), with about 20 ms of round-trip latency on loopback.

One command generates an app tree (about 2,000 files / 10 MB, node-app-like: nested dirs, mostly
small text files, some larger binaries, a few executables and symlinks; fixed seed, so the same
tree every run; fresh per run, not timed), starts

  * `berth sim` (release binary): its mittwald API and its SSH endpoint, and
  * a real OpenSSH `sshd` (/usr/sbin/sshd) on a free loopback port with a temporary config, host
    key (ed25519, made once per run), authorized_keys (`UsePAM no`, `StrictModes no`,
    `PermitRootLogin prohibit-password`: the current user, root here, logs in with a key),

each behind a delay relay (bench/latency.py: every chunk delivered 10 ms after it was read, each
way, so a round trip costs about 20 ms; it also counts the bytes each way, the "bytes on the
wire" of every tool alike). The simulator's API is behind a relay of its own (its bytes are
counted apart from SSH's). The kernel here has no netem, hence the relay; it is used everywhere,
netem or not, so the figures are comparable across machines.

Then, each N times (default 3; the tools' order alternates per repetition), per server, a cold
deploy (empty target) and an unchanged re-deploy (the same tree again, same target):

  * real sshd: berth (BERTH_SSH_USER=berth@bench + BERTH_SSH_PRIVATE_KEY, BERTH_SSH_HOST at the relay,
    BERTH_SSH_KNOWN_HOSTS with the sshd's host key; the mittwald API from the simulator, whose
    `web_dir` option points the project's web directory at a temporary directory of this host so
    the deploy lands there; berth logs in as `<user>@<installation short id>` unless the user
    has an `@`, so sshd runs in a mount namespace of its own where an /etc/passwd with the alias
    `berth@bench` for the current user is bind-mounted: same uid, host untouched),
    `rsync -a --delete -e "ssh ..."` as the current user (`rsync`) and the same with the
    flags `mw app upload` passes, `--archive --recursive --verbose --progress --delete`
    (`rsync-mw`; its output goes to a file), and `ssh ... true` alone (`ssh`: one login, the
    floor under every tool's figures);
  * the simulator's SSH endpoint: berth with the temporary SSH user it creates through the API
    (the default path, what users get: creating the user and waiting for its activation count,
    with the simulator's activation delay set by --ssh-activation-ms, default 0) and berth with a
    given user (`berth-user`: an SSH user this script registers through the API beforehand).
    The simulator runs no rsync (its SSH endpoint has a small command language, no rsync), so
    rsync runs only against the real sshd;
  * `berth-api`: berth installing the same app without BERTH_PATH (the API part alone, for
    reference: berth's cold deploy = install + deploy, rsync's = copy only).

The transport comparison (issue 14, point 4: "a tar over an exec channel, or SFTP ... pick the
faster"; full run, or alone with --transports; not in --short): cold deploys of the same tree to
the real sshd (a new, empty target directory each run), behind the same relay:

  * `sftp`: OpenSSH's sftp in batch mode (`sftp -b FILE -P PORT -i KEY -o UserKnownHostsFile=...
    -o StrictHostKeyChecking=yes user@127.0.0.1`, sshd's subsystem Debian's sftp-server): `mkdir
    DIR`, `put -r SRC/. DIR`, then one `ln -s` per symlink (`put -r` skips symlinks);
  * `tar-ssh`: one tar stream over one exec channel, `tar -C SRC -cf - . | ssh ... 'mkdir -p DIR &&
    tar -x -p -f - -C DIR'`;
  * berth's and rsync's cold deploys alongside.

With --transports only these run (berth and rsync cold only), and when the results file (--json,
default bench/deploy-results.json) holds a full run, they are merged into it as its `transports`
part (that run's figures untouched) and the markdown is rewritten with a section of its own.

berth runs with BERTH_RESTART=false and BERTH_DELETE=true (as rsync's --delete); the
simulator's time-to-ready is 0. Per run: wall time, CPU time (user + sys of the process and its
children), bytes on the wire each way through the SSH relay (and through the API relay),
connections, and for berth the outputs `files_deployed` and `bytes_deployed` (its stdout JSON
line). Every run's resulting tree is checked against the source: file list, SHA-256 of contents,
permission bits, symlink targets, directories. Medians (min-max) go to a table on stdout,
bench/deploy-results.json and BENCHMARKS-deploy.md.

Builds: the release binary's size and a cold release build (`cargo build --release --locked` in
a fresh target dir after `cargo fetch`, timed), of this tree (exported with `git archive HEAD`)
and of the commit before the deploy work (`63c0450`, "before"), one after the other on the same
machine. Targets (PASS/FAIL; exit 1 with --check-targets): binary under 8 MB (8,000,000 bytes);
cold build under 5 minutes; berth's unchanged re-deploy sends no file (files_deployed 0).

Needs python3 (3.11+, stdlib only), cargo, rsync, ssh, ssh-keygen and /usr/sbin/sshd. Talks only
to 127.0.0.1, to servers it starts. Every wait is bounded.

usage:
  python3 bench/deploy.py             full run: builds (after + before), 3 reps of every case
  python3 bench/deploy.py --short     CI: one rep, no build timing, under a minute; exit 1 when a
                                      berth deploy fails or a deployed tree differs from the source
  python3 bench/deploy.py --transports
                                      the transport comparison alone (3 reps, about 9 minutes: SFTP
                                      takes minutes), merged into bench/deploy-results.json
  options: --reps N, --json PATH, --markdown PATH, --binary PATH (use that berth, no build timing),
           --skip-build (no build timing; target/release/berth, built if missing),
           --skip-before (no build of the "before" commit), --before-rev COMMIT (default 63c0450),
           --servers sim,sshd, --no-rsync-mw, --transports, --ssh-activation-ms MS (default 0),
           --delay-ms MS (each way, default 10), --check-targets,
           --render bench/deploy-results.json (rewrite BENCHMARKS-deploy.md from saved results)
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import http.client
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import DelayProxy, self_check  # noqa: E402
import run as house  # noqa: E402  (bench/run.py: child_env, first_line, run_checked, cargo_env)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work-deploy"
SSHD = "/usr/sbin/sshd"
LOGIN_ALIAS = "berth@bench"  # see Sshd
# berth's record of a finished deploy in the target (src/mittwald/deploy/mod.rs, MARKER): not part
# of the source tree, so left out of the comparison for berth's runs.
BERTH_MARKER = ".berth-deployed"

TOKEN = "sim-token"
PROJECT = "p-bench01"
BEFORE_REV = "63c0450"  # main before the deploy work (issue 14)
TREE_SEED = 14
TREE_FILES = 2000
TREE_BYTES = 10_000_000
FIXED_MTIME = 1_704_067_200  # 2024-01-01 00:00 UTC: the tree is the same, byte for byte, every run
BINARY_GOAL = 8_000_000
BUILD_GOAL_S = 300
RUN_TIMEOUT_S = 180
SFTP_TIMEOUT_S = 900  # OpenSSH's sftp: a few round trips per file and per directory, one after the other
SFTP_SERVER = "/usr/lib/openssh/sftp-server"  # Debian's; `internal-sftp` where it is missing
RESULTS_VERSION = 1

BERTH_TOOLS = ("berth", "berth-user")
PHASES = ("cold", "unchanged")
# The transport comparison (issue 14, point 4: "a tar over an exec channel, or SFTP ... pick the
# faster"): cold deploys of the same tree to the real sshd, behind the same relay.
TRANSPORT_TOOLS = ("sftp", "tar-ssh")


def log(text: str) -> None:
    print(f"deploy-bench: {text}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# The app tree


WORDS = ("const let var function return async await require module exports import from export "
         "default class extends new this if else for while of in try catch throw null undefined "
         "true false Promise resolve reject then map filter reduce Object keys values JSON parse "
         "stringify console log error request response router app listen port path join config "
         "process env user session token cache stream buffer data value index length push get set "
         "delete has options callback next handler middleware static render view model schema").split()


def text_blob(rng: random.Random, size: int, kind: str) -> bytes:
    """`size` bytes of source-like text: lines of words, indented, with punctuation."""
    lines, total = [], 0
    if kind == "md":
        lines.append("# " + " ".join(rng.choices(WORDS, k=4)) + "\n\n")
    while total < size:
        indent = "  " * rng.randrange(0, 4)
        line = indent + " ".join(rng.choices(WORDS, k=rng.randrange(3, 12))) + rng.choice((";", " {", "}", ",", "")) + "\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def make_tree(root: Path, seed: int = TREE_SEED, files: int = TREE_FILES, total: int = TREE_BYTES) -> dict:
    """A node-app-like tree of exactly `files` regular files and `total` bytes (plus symlinks and
    directories), the same for the same seed. Returns its counts."""
    if root.exists():
        shutil.rmtree(root)
    rng = random.Random(seed)
    entries: list[tuple[str, str, int, int]] = []  # (path, kind text|binary, size, mode)

    def add(path, kind, size, mode=0o644):
        entries.append((path, kind, size, mode))

    # The app's own files.
    add("package.json", "text", 1_400)
    add("package-lock.json", "text", 180_000)
    add("server.js", "text", 2_300)
    add("README.md", "text", 4_000)
    add(".env.example", "text", 300)
    add("config/production.json", "text", 900, 0o600)
    add("config/default.json", "text", 1_100)
    for name in ("build.sh", "migrate.sh", "start.sh"):
        add(f"scripts/{name}", "text", rng.randrange(300, 2_000), 0o755)
    for area in ("routes", "models", "controllers", "lib", "middleware", "services", "views/partials", "views/pages"):
        for i in range(rng.randrange(8, 20)):
            add(f"src/{area}/{rng.choice(WORDS)}-{i}.js", "text", int(rng.lognormvariate(7.6, 0.8)))
    for i in range(24):
        add(f"public/css/{rng.choice(WORDS)}-{i}.css", "text", int(rng.lognormvariate(8.0, 0.9)))
    # Larger binaries: images, fonts, a wasm module; incompressible (random bytes).
    binaries = [(f"public/img/{rng.choice(WORDS)}-{i}.{rng.choice(('png', 'jpg', 'webp'))}", rng.randrange(20_000, 260_000))
                for i in range(30)]
    binaries += [(f"public/fonts/inter-{w}.woff2", rng.randrange(40_000, 110_000)) for w in (400, 500, 600, 700)]
    binaries += [("public/wasm/engine.wasm", 900_000), ("public/favicon.ico", 15_086)]
    for path, size in binaries:
        add(path, "binary", size)
    # Dependencies: packages with nested lib dirs, until the file count is reached.
    packages = []
    n = 0
    while len(entries) < files - 2:  # two bundle files at the end
        name = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{n}"
        if rng.random() < 0.2:
            name = f"@{rng.choice(WORDS)}/{name}"
        packages.append(name)
        base = f"node_modules/{name}"
        add(f"{base}/package.json", "text", rng.randrange(500, 2_500))
        add(f"{base}/index.js", "text", int(rng.lognormvariate(7.0, 0.9)))
        if rng.random() < 0.6:
            add(f"{base}/README.md", "text", int(rng.lognormvariate(7.8, 0.8)))
        if rng.random() < 0.7:
            add(f"{base}/LICENSE", "text", 1_070)
        if rng.random() < 0.25:
            add(f"{base}/bin/cli.js", "text", rng.randrange(200, 3_000), 0o755)
        for depth in range(rng.randrange(0, 3)):
            lib = base + "/lib" + "".join(f"/{rng.choice(WORDS)}" for _ in range(depth))
            for i in range(rng.randrange(1, 12)):
                add(f"{lib}/{rng.choice(WORDS)}{i}.js", "text", int(rng.lognormvariate(6.8, 1.0)))
        if rng.random() < 0.1:
            add(f"{base}/{rng.choice(WORDS)}.empty", "text", 0)
        n += 1
    entries = entries[: files - 2]
    used = sum(size for _, _, size, _ in entries)
    rest = max(total - used, 2)
    add("dist/bundle.js", "text", rest * 2 // 5)
    add("dist/bundle.js.map", "text", rest - rest * 2 // 5)
    for path, kind, size, mode in entries:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(size) if kind == "binary" else text_blob(rng, size, "md" if path.endswith(".md") else "js")
        target.write_bytes(data)
        os.chmod(target, mode)
    # Symlinks, as npm makes them: node_modules/.bin/<cmd> -> ../<package>/bin/cli.js, and one to a dir.
    links = 0
    bin_dir = root / "node_modules" / ".bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for path, _, _, _ in entries:
        if path.endswith("/bin/cli.js"):
            package = path[len("node_modules/"):-len("/bin/cli.js")]
            os.symlink(f"../{package}/bin/cli.js", bin_dir / package.split("/")[-1])
            links += 1
    os.symlink("public/img", root / "images")
    links += 1
    (root / "tmp" / "uploads").mkdir(parents=True)  # an empty directory
    # Fixed times: the same tree on every run (rsync's quick check, tar headers).
    for directory, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            os.utime(Path(directory) / name, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)
    os.utime(root, (FIXED_MTIME, FIXED_MTIME))
    snap = snapshot(root)
    return {
        "seed": seed,
        "files": sum(1 for v in snap.values() if v[0] == "f"),
        "bytes": sum(v[2] for v in snap.values() if v[0] == "f"),
        "binary_files": sum(1 for _, kind, _, _ in entries if kind == "binary"),
        "binary_bytes": sum(size for _, kind, size, _ in entries if kind == "binary"),
        "directories": sum(1 for v in snap.values() if v[0] == "d"),
        "symlinks": links,
        "executables": sum(1 for v in snap.values() if v[0] == "f" and v[1] & 0o111),
        "packages": len(packages),
    }


def snapshot(root: Path) -> dict:
    """relative path -> ("f", mode, size, sha256) | ("d", mode) | ("l", target), without `root`."""
    out = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(directory) / name
            rel = str(path.relative_to(root))
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", stat.S_IMODE(st.st_mode))
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                out[rel] = ("f", stat.S_IMODE(st.st_mode), st.st_size, digest)
    return out


def compare_trees(source: dict, deployed_root: Path, ignore: tuple = ()) -> list[str]:
    """How the tree at `deployed_root` differs from `source` (a snapshot): at most 10 lines.
    Top-level names in `ignore` are left out (berth's marker)."""
    if not deployed_root.is_dir():
        return [f"{deployed_root} is not a directory"]
    deployed = {k: v for k, v in snapshot(deployed_root).items() if k not in ignore}
    problems = []
    missing = sorted(set(source) - set(deployed))
    extra = sorted(set(deployed) - set(source))
    if missing:
        problems.append(f"{len(missing)} missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} extra, e.g. {extra[:3]}")
    for key in sorted(set(source) & set(deployed)):
        a, b = source[key], deployed[key]
        if a != b:
            what = {"f": "file", "d": "dir", "l": "symlink"}
            if a[0] != b[0]:
                problems.append(f"{key}: {what[a[0]]} became {what[b[0]]}")
            elif a[0] == "l":
                problems.append(f"{key}: link to {b[1]!r}, not {a[1]!r}")
            elif a[1] != b[1]:
                problems.append(f"{key}: mode {b[1]:o}, not {a[1]:o}")
            else:
                problems.append(f"{key}: contents differ")
        if len(problems) >= 10:
            break
    return problems


# ---------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen, what: str, log_path: Path, seconds=20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"{what} did not start:\n{log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Sshd:
    """A real OpenSSH sshd on a free loopback port: its own config, host key and authorized_keys
    in WORK/sshd; the client key is WORK/sshd/client (what rsync's ssh and berth log in with)."""

    def __init__(self):
        self.dir = WORK / "sshd"
        self.dir.mkdir(parents=True)
        for name in ("host", "client"):
            house.run_checked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"bench-{name}",
                               "-f", str(self.dir / name)], timeout=30)
        shutil.copy(self.dir / "client.pub", self.dir / "authorized_keys")
        self.user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
        self.port = free_port()
        config = self.dir / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.dir / 'host'}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            f"PidFile {self.dir / 'sshd.pid'}",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UseDNS no",
            "MaxStartups 100",
            "LogLevel ERROR",
            f"Subsystem sftp {SFTP_SERVER if os.path.exists(SFTP_SERVER) else 'internal-sftp'}",
            "",
        ]))
        # sshd's privilege separation directory (Debian's compiled-in path).
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.log_path = self.dir / "sshd.log"
        self.log_file = open(self.log_path, "wb")
        # berth logs in as `<BERTH_SSH_USER>@<installation short id>` unless BERTH_SSH_USER has an
        # `@` (then as given), as mittwald's SSH endpoint wants: so the login berth uses here is
        # LOGIN_ALIAS, a name with an `@` that maps to the current user's uid in an
        # /etc/passwd bind-mounted for sshd alone (its own mount namespace; the host's is untouched).
        passwd = self.dir / "passwd"
        me = __import__("pwd").getpwuid(os.getuid())
        passwd.write_text(Path("/etc/passwd").read_text().rstrip("\n") + "\n"
                          + f"{LOGIN_ALIAS}:x:{me.pw_uid}:{me.pw_gid}:deploy bench:{me.pw_dir}:{me.pw_shell}\n")
        argv = [SSHD, "-D", "-e", "-f", str(config)]
        self.alias = shutil.which("unshare") is not None and os.getuid() == 0
        if self.alias:
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    f'mount --bind "$0" /etc/passwd && exec "$@"', str(passwd), *argv]
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log_file,
                                        stderr=subprocess.STDOUT)
        try:
            wait_port(self.port, self.process, "sshd", self.log_path)
        except BenchError as error:
            if not self.alias:
                raise
            log(f"sshd with a login alias did not start ({error}); plain sshd, berth cannot log in")
            self.alias = False
            stop_process(self.process)
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                            stdout=self.log_file, stderr=subprocess.STDOUT)
            wait_port(self.port, self.process, "sshd", self.log_path)
        self.host_key = " ".join((self.dir / "host.pub").read_text().split()[:2])
        self.private_key = (self.dir / "client").read_text()

    def version(self) -> str:
        return subprocess.run([SSHD, "-V"], capture_output=True, text=True, timeout=10).stderr.strip().splitlines()[0]

    def stop(self) -> None:
        stop_process(self.process)
        self.log_file.close()


class Sim:
    """`berth sim` on free loopback ports, its temporary files under WORK/sim-tmp (TMPDIR)."""

    def __init__(self, binary: Path):
        self.tmp = WORK / "sim-tmp"
        self.tmp.mkdir(parents=True)
        self.log_path = WORK / "sim.log"
        self.log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(binary), "sim", "--listen", "127.0.0.1:0"], stdin=subprocess.DEVNULL,
            stdout=self.log_file, stderr=subprocess.STDOUT, env=house.child_env({"TMPDIR": str(self.tmp)}),
        )
        deadline = time.monotonic() + 20
        while True:
            text = self.log_path.read_text(errors="replace")
            match = re.search(r"mittwald API v2 at http://127\.0\.0\.1:(\d+)", text)
            if match and "mittwald SSH at" in text:
                self.port = int(match.group(1))
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"berth sim did not start:\n{text}")
            time.sleep(0.02)
        ssh = self.control("GET", "ssh")
        self.ssh_port = int(ssh["addr"].rsplit(":", 1)[1])
        self.host_key = " ".join(ssh["host_key"].split()[:2])

    def request(self, method: str, path: str, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = json.dumps(body).encode() if body is not None else None
            all_headers = {"content-type": "application/json"} if data is not None else {}
            all_headers.update(headers or {})
            connection.request(method, path, body=data, headers=all_headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def control(self, method: str, path: str, body=None):
        status, payload = self.request(method, f"/__sim/{path}", body)
        if status >= 300:
            raise BenchError(f"{method} /__sim/{path}: {status} {payload[:500]!r}")
        return json.loads(payload) if payload else None

    def api(self, method: str, path: str, body=None):
        status, payload = self.request(method, path, body, {"x-access-token": TOKEN})
        if status >= 300:
            raise BenchError(f"{method} {path}: {status} {payload[:500]!r}")
        return json.loads(payload) if payload else None

    def project_host_path(self, path: str) -> Path:
        """Where the simulator keeps `path` of PROJECT's file system (`/html/app`) on this host."""
        roots = sorted(self.tmp.glob("berth-sim-files-*"))
        if not roots:
            return self.tmp / "no-files-yet"
        return roots[0] / PROJECT / path.strip("/")

    def stop(self) -> None:
        stop_process(self.process)
        self.log_file.close()


# ---------------------------------------------------------------------------------------------
# One run of one tool


def berth_supports_deploy(binary: Path) -> bool:
    """Whether this berth deploys code to mittwald: its help lists BERTH_SSH_HOST.
    TODO(issue 14): drop once every binary benchmarked has the deploy."""
    for argv in ([str(binary), "--help"], [str(binary), "help"]):
        try:
            text = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=house.child_env({}))
        except (OSError, subprocess.SubprocessError):
            continue
        if "BERTH_SSH_HOST" in text.stdout + text.stderr:
            return True
    return False


def measure(argv, env, label: str, timeout_s: int = RUN_TIMEOUT_S) -> dict:
    """Runs argv (its own session); wall time, CPU of it and its children, its output."""
    run_dir = WORK / "runs"
    run_dir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = run_dir / f"{label}.stdout", run_dir / f"{label}.stderr"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        started = time.monotonic()
        process = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                   env=env, cwd=WORK, start_new_session=True)
        timed_out = False
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "exit": process.returncode,
        "timed_out": timed_out,
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "stdout": stdout_path.read_text(errors="replace"),
        "stderr_tail": stderr_path.read_text(errors="replace")[-2000:],
    }


def last_json_line(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def output(line: dict | None, key: str):
    """An output of berth's stdout line, snake_case or kebab-case."""
    if not line:
        return None
    value = line.get(key, line.get(key.replace("_", "-")))
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


class Bench:
    def __init__(self, args, binary: Path, tree: Path, tree_snapshot: dict):
        self.args = args
        self.binary = binary
        self.tree = tree
        self.snapshot = tree_snapshot
        self.sim: Sim | None = None
        self.sshd: Sshd | None = None
        self.proxies: dict[str, DelayProxy] = {}
        self.runs: list[dict] = []
        self.given_user: dict | None = None

    # -- servers ------------------------------------------------------------------------------

    def start(self, servers: list[str]) -> None:
        delay = self.args.delay_ms
        self.sim = Sim(self.binary)
        self.sim.control("PATCH", "options", {"time_to_ready_ms": 0, "consistency_delay_ms": 0,
                                              "ssh_activation_ms": self.args.ssh_activation_ms,
                                              "app_restart_ms": 0, "rate_limit": 100_000})
        self.proxies["api"] = DelayProxy(("127.0.0.1", self.sim.port), delay)
        if "sim" in servers:
            self.proxies["sim"] = DelayProxy(("127.0.0.1", self.sim.ssh_port), delay)
        if "sshd" in servers:
            self.sshd = Sshd()
            self.proxies["sshd"] = DelayProxy(("127.0.0.1", self.sshd.port), delay)
            (WORK / "sshd-web").mkdir()
            (WORK / "rsync").mkdir()
            (WORK / "transfer").mkdir()

    def stop(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
        if self.sshd:
            self.sshd.stop()
        if self.sim:
            self.sim.stop()

    # -- commands -----------------------------------------------------------------------------

    def ssh_command(self) -> str:
        proxy = self.proxies["sshd"].port
        known = WORK / "sshd" / "known_hosts"
        known.write_text(f"[127.0.0.1]:{proxy} {self.sshd.host_key}\n")
        return (f"ssh -F /dev/null -p {proxy} -i {WORK / 'sshd' / 'client'} -o IdentitiesOnly=yes "
                f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes -o BatchMode=yes")

    def rsync_argv(self, tool: str, target: Path) -> list:
        flags = ["-a", "--delete"] if tool == "rsync" else \
            ["--archive", "--recursive", "--verbose", "--progress", "--delete"]
        return ["rsync", *flags, "-e", self.ssh_command(), f"{self.tree}/", f"{self.sshd.user}@127.0.0.1:{target}/"]

    def sftp_argv(self, target: Path, label: str) -> list:
        """OpenSSH's sftp in batch mode: `mkdir` the (new) target, `put -r` the tree into it, then
        the symlinks (`put -r` skips them: "not a regular file"), one `ln -s` each. The client
        pipelines up to 64 requests within a file, but opens and closes each file, makes each
        directory and each symlink with a round trip of its own, one after the other."""
        batch = [f'mkdir "{target}"', f'put -r "{self.tree}/." "{target}"']
        for rel, entry in sorted(self.snapshot.items()):
            if entry[0] == "l":
                batch.append(f'ln -s "{entry[1]}" "{target / rel}"')
        batch_file = WORK / "runs" / f"{label}.sftp-batch"
        batch_file.parent.mkdir(parents=True, exist_ok=True)
        batch_file.write_text("\n".join(batch) + "\n")
        ssh = self.ssh_command().split()  # ssh -F /dev/null -p PORT -i KEY -o ...
        options = [a for a in ssh[1:] if a != "-p"]
        options.remove(str(self.proxies["sshd"].port))
        return ["sftp", "-b", str(batch_file), "-P", str(self.proxies["sshd"].port), *options,
                f"{self.sshd.user}@127.0.0.1"]

    def tar_ssh_argv(self, target: Path) -> list:
        """One tar stream over one exec channel (what berth does, without berth)."""
        remote = f"mkdir -p '{target}' && tar -x -p -f - -C '{target}'"
        return ["bash", "-o", "pipefail", "-c",
                f"tar -C '{self.tree}' -cf - . | {self.ssh_command()} {self.sshd.user}@127.0.0.1 \"{remote}\""]

    def berth_env(self, server: str, tool: str, description: str, installation_path: str) -> dict:
        env = {
            "BERTH_PROVIDER": "mittwald",
            "BERTH_API_URL": f"http://127.0.0.1:{self.proxies['api'].port}",
            "BERTH_API_TOKEN": TOKEN,
            "BERTH_PROJECT_ID": PROJECT,
            "BERTH_APP": "node",
            "BERTH_DESCRIPTION": description,
            "BERTH_INSTALLATION_PATH": installation_path,
            "BERTH_WAIT_TIMEOUT": f"{RUN_TIMEOUT_S - 30}s",
        }
        if tool == "berth-api":
            return house.child_env(env)
        env.update({"BERTH_PATH": str(self.tree), "BERTH_DELETE": "true", "BERTH_RESTART": "false"})
        proxy = self.proxies[server].port
        env["BERTH_SSH_HOST"] = f"127.0.0.1:{proxy}"
        if server == "sshd":
            env["BERTH_SSH_KNOWN_HOSTS"] = f"[127.0.0.1]:{proxy} {self.sshd.host_key}"
            env["BERTH_SSH_USER"] = LOGIN_ALIAS
            env["BERTH_SSH_PRIVATE_KEY"] = self.sshd.private_key
        else:
            env["BERTH_SSH_KNOWN_HOSTS"] = f"[127.0.0.1]:{proxy} {self.sim.host_key}"
            if tool == "berth-user":
                user = self.sim_given_user()
                env["BERTH_SSH_USER"] = user["userName"]
                env["BERTH_SSH_PRIVATE_KEY"] = user["private_key"]
        return house.child_env(env)

    def sim_given_user(self) -> dict:
        """An SSH user of PROJECT registered through the API with a key of ours (once)."""
        if self.given_user is None:
            key = WORK / "sim-user-key"
            house.run_checked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(key)], timeout=30)
            public = " ".join((WORK / "sim-user-key.pub").read_text().split()[:2])
            body = self.sim.api("POST", f"/v2/projects/{PROJECT}/ssh-users", {
                "description": "deploy benchmark",
                "authentication": {"publicKeys": [{"comment": "bench", "key": public}]},
            })
            time.sleep(self.args.ssh_activation_ms / 1000)
            self.given_user = {"userName": body["userName"], "id": body["id"], "private_key": key.read_text()}
        return self.given_user

    # -- runs ---------------------------------------------------------------------------------

    def one(self, server: str, tool: str, phase: str, rep: int, slot: dict) -> dict:
        """One run; `slot` carries the target between the cold run and the unchanged one."""
        label = f"{server}-{tool}-{phase}-{rep}"
        if phase == "cold":
            unique = f"bench-{tool}-{rep}-{uuid.uuid4().hex[:6]}"
            slot.update({"description": unique, "installation_path": f"/{unique}"})
        if tool == "ssh":
            argv = [*self.ssh_command().split(), f"{self.sshd.user}@127.0.0.1", "true"]
            env = house.child_env({})
        elif tool.startswith("rsync"):
            if phase == "cold":
                slot["target"] = WORK / "rsync" / slot["description"]
                slot["target"].mkdir()
            argv, env = self.rsync_argv(tool, slot["target"]), house.child_env({})
        elif tool in TRANSPORT_TOOLS:
            # A new target each run (sftp's batch makes it, tar's remote command `mkdir -p`).
            slot["target"] = WORK / "transfer" / slot["description"]
            argv = self.sftp_argv(slot["target"], label) if tool == "sftp" else self.tar_ssh_argv(slot["target"])
            env = house.child_env({})
        else:
            self.sim.control("PATCH", "options", {"web_dir": str(WORK / "sshd-web") if server == "sshd" else "/html"})
            argv = [self.binary]
            env = self.berth_env(server, tool, slot["description"], slot["installation_path"])
        for proxy in self.proxies.values():
            proxy.reset()
        result = measure(argv, env, label, SFTP_TIMEOUT_S if tool == "sftp" else RUN_TIMEOUT_S)
        time.sleep(0.05)  # the relay's last chunks
        ssh_proxy = self.proxies.get(server) if tool != "berth-api" else None
        result.update({"server": server, "tool": tool, "phase": phase, "rep": rep,
                       "case": f"{server}/{phase}"})
        if ssh_proxy is not None:
            counts = ssh_proxy.counts()
            result.update({"bytes_up": counts["bytes_up"], "bytes_down": counts["bytes_down"],
                           "bytes_wire": counts["bytes_total"], "ssh_connections": counts["connections"]})
        api = self.proxies["api"].counts()
        if tool.startswith("berth"):
            result.update({"api_bytes": api["bytes_total"], "api_connections": api["connections"]})
        ok = result["exit"] == 0 and not result["timed_out"]
        line = last_json_line(result["stdout"]) if tool.startswith("berth") else None
        if tool.startswith("berth"):
            result["files_deployed"] = output(line, "files_deployed")
            result["bytes_deployed"] = output(line, "bytes_deployed")
            result["status"] = output(line, "status")
            result["deploy_path"] = output(line, "deploy_path")
        problems = []
        if ok and tool not in ("berth-api", "ssh"):
            # berth's output deploy_path: a path of this host (sshd) or of the simulated project's
            # file system (the simulator keeps it under its temporary directory).
            path = result.get("deploy_path") or f"{WORK / 'sshd-web' if server == 'sshd' else '/html'}" \
                f"{slot['installation_path']}"
            if tool.startswith("rsync") or tool in TRANSPORT_TOOLS:
                deployed = slot["target"]
            elif server == "sshd":
                deployed = Path(path)
            else:
                deployed = self.sim.project_host_path(path)
            problems = compare_trees(self.snapshot, deployed,
                                     (BERTH_MARKER,) if tool.startswith("berth") else ())
            result["deployed_dir"] = str(deployed)
        result["tree_ok"] = None if tool in ("berth-api", "ssh") or not ok else not problems
        if problems:
            result["tree_problems"] = problems
        result["ok"] = ok and not problems
        if not ok:
            result["error"] = (f"exit {result['exit']}{' (timed out)' if result['timed_out'] else ''}; "
                               f"stdout: {result['stdout'][-400:]!r}; stderr: {result['stderr_tail'][-1200:]!r}")
        elif problems:
            result["error"] = "deployed tree differs: " + "; ".join(problems)
        if tool == "rsync-mw":
            result["stdout_lines"] = result["stdout"].count("\n")
        del result["stdout"]
        if result["ok"]:
            del result["stderr_tail"]
        return result

    def phases(self, tool: str) -> tuple:
        if tool == "ssh":
            return ("login",)
        if tool in TRANSPORT_TOOLS or self.args.transports:
            return ("cold",)  # neither sftp's put nor a tar stream skips unchanged files
        return PHASES

    def run_all(self, servers: list[str], reps: int, berth_ok: bool) -> None:
        plan = []
        berth = ["berth"] if berth_ok and self.sshd and self.sshd.alias else []
        if "sshd" in servers and self.args.transports:
            # The transport comparison alone: cold deploys only, berth and rsync alongside.
            plan.append(("sshd", berth + ["rsync", *TRANSPORT_TOOLS]))
        elif "sshd" in servers:
            tools = berth + ["rsync"] + ([] if self.args.no_rsync_mw else ["rsync-mw"]) \
                + ([] if self.args.short else ["ssh", *TRANSPORT_TOOLS])
            plan.append(("sshd", tools))
        if "sim" in servers and berth_ok:
            plan.append(("sim", list(BERTH_TOOLS) + ([] if self.args.short else ["berth-api"])))
        total = sum(len(self.phases(tool)) * reps for _, tools in plan for tool in tools)
        for server, tools in plan:
            for rep in range(reps):
                order = tools if rep % 2 == 0 else list(reversed(tools))
                for tool in order:
                    slot: dict = {}
                    for phase in self.phases(tool):
                        result = self.one(server, tool, phase, rep, slot)
                        self.runs.append(result)
                        log(f"[{len(self.runs)}/{total}] {server} {tool} {phase} #{rep + 1}: " + (
                            f"{result['wall_s']:.2f} s"
                            + (f", wire {result['bytes_wire'] / 1e6:.2f} MB in {result['ssh_connections']} conn"
                               if "bytes_wire" in result else "")
                            + (f", files_deployed {result['files_deployed']}" if tool.startswith("berth") else "")
                            if result["ok"] else f"FAILED: {result['error']}"))
                        if not result["ok"] and phase == "cold":
                            break


# ---------------------------------------------------------------------------------------------
# Builds


def export_rev(rev: str, into: Path) -> str:
    """`git archive rev` unpacked into `into` (like run.py's --rev); returns the short commit."""
    into.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", "--format=tar", rev], stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, capture_output=True, timeout=120)
    archive.stdout.close()
    if archive.wait(timeout=120) != 0 or untar.returncode != 0:
        raise BenchError(f"git archive {rev} failed: {untar.stderr.decode(errors='replace')}")
    return house.first_line(["git", "-C", str(ROOT), "rev-parse", "--short", rev])


def cold_build(rev: str, label: str) -> dict:
    """A cold `cargo build --release --locked` of `rev` in a fresh target dir (crates fetched
    first, not timed); the binary is copied to WORK/berth-<label>."""
    source = WORK / f"src-{label}"
    target = WORK / f"target-{label}"
    commit = export_rev(rev, source)
    log(f"{label}: fetching crates for {commit} (not timed)")
    house.run_checked(["cargo", "fetch", "--locked"], cwd=source, timeout=900)
    log(f"{label}: cold release build of {commit} in a fresh target dir")
    load = os.getloadavg()[0]
    busy_before = house.cpu_busy_seconds()
    own_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    took, _ = house.run_checked(["cargo", "build", "--release", "--locked"], cwd=source,
                                env=house.cargo_env(target), timeout=1800)
    own_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (own_after.ru_utime - own_before.ru_utime) + (own_after.ru_stime - own_before.ru_stime)
    # Other work on the machine meanwhile (other builds on a shared machine slow this one down).
    others = max(house.cpu_busy_seconds() - busy_before - own, 0.0) / took
    binary = WORK / f"berth-{label}"
    shutil.copy2(target / "release" / "berth", binary)
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(source, ignore_errors=True)
    size = binary.stat().st_size
    log(f"{label}: {took:.0f} s (build CPU {own:.0f} s; others used {others:.2f} cores meanwhile), "
        f"binary {size:,} bytes")
    return {"rev": rev, "commit": commit, "cold_build_s": took, "binary_size": size, "build_cpu_s": own,
            "load_before": load, "others_cores_during_build": others, "binary": str(binary)}


def ensure_release_binary() -> Path:
    binary = house.default_target_dir() / "release" / "berth"
    if not binary.exists():
        log(f"{binary} is missing: cargo build --release --locked")
        house.run_checked(["cargo", "build", "--release", "--locked"], timeout=1800)
    return binary


# ---------------------------------------------------------------------------------------------
# Summary, targets, output


METRICS = ["wall_s", "cpu_s", "bytes_wire", "bytes_up", "bytes_down", "ssh_connections", "api_bytes",
           "files_deployed", "bytes_deployed"]


def stats(values):
    values = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize(runs) -> dict:
    grouped: dict = {}
    for run in runs:
        grouped.setdefault(run["case"], {}).setdefault(run["tool"], []).append(run)
    return {case: {tool: {m: stats([r.get(m) for r in rs if r["ok"]]) for m in METRICS}
                   | {"runs": len(rs), "failed": sum(not r["ok"] for r in rs)}
                   for tool, rs in tools.items()}
            for case, tools in grouped.items()}


def targets(results: dict) -> list[dict]:
    out = []

    def add(name, value, goal, met):
        out.append({"target": name, "value": value, "goal": goal, "met": met})

    after = results["builds"].get("after")
    size = after["binary_size"] if after else results.get("binary_size")
    if size is not None:
        add("release binary", f"{size / 1e6:.2f} MB ({size:,} bytes)", "< 8 MB (8,000,000 bytes)", size < BINARY_GOAL)
    if after:
        cores = results["machine"]["cores"]
        others = after.get("others_cores_during_build", 0.0)
        add("cold release build", f"{after['cold_build_s']:.0f} s on {cores} cores"
            + (f" (other work took {others:.2f} of the {cores} cores meanwhile; the build's own CPU "
               f"{after['build_cpu_s']:.0f} s)" if others >= 0.25 else ""),
            "< 300 s", after["cold_build_s"] < BUILD_GOAL_S)
    noop = [r for r in results["runs"] if r["tool"] in BERTH_TOOLS and r["phase"] == "unchanged"]
    if noop:
        sent = [r.get("files_deployed") for r in noop]
        worst = max((s for s in sent if isinstance(s, int)), default=None)
        ok = all(r["ok"] for r in noop) and all(s == 0 for s in sent)
        add(f"unchanged re-deploy sends no file (all {len(noop)} berth runs)",
            f"files_deployed {sorted(set(map(str, sent)))}" + (f", at most {worst}" if worst else ""), "0", ok)
    elif not results["berth_deploys"]:
        add("unchanged re-deploy sends no file", "not measured: berth has no mittwald deploy yet (TODO)", "0", False)
    return out


def fmt(stat_, scale=1.0, digits=2, unit=""):
    if not stat_:
        return "–"
    m, lo, hi = (stat_[k] * scale for k in ("median", "min", "max"))
    text = f"{m:.{digits}f}{unit}"
    if stat_["n"] > 1 and (hi - lo) > 10 ** -digits:
        text += f" ({lo:.{digits}f}–{hi:.{digits}f})"
    return text


TOOL_LABELS = {
    "berth": "berth",
    "berth-user": "berth, given SSH user",
    "berth-api": "berth without BERTH_PATH (API only)",
    "rsync": "`rsync -a --delete` over ssh",
    "rsync-mw": "`rsync --archive --recursive --verbose --progress --delete` (mw app upload's flags)",
    "ssh": "`ssh … true` (one login, the floor)",
    "sftp": "OpenSSH `sftp -b`: `mkdir`, `put -r`, one `ln -s` per symlink",
    "tar-ssh": "`tar -cf - . \\| ssh … 'mkdir -p DIR && tar -x -p -f - -C DIR'` (one exec channel)",
}


def table_rows(results: dict) -> list[list[str]]:
    rows = []
    for case, tools in results["summary"].items():
        server, phase = case.split("/")
        for tool, s in tools.items():
            label = TOOL_LABELS.get(tool, tool)
            if server == "sim" and tool == "berth":
                label = "berth, temporary SSH user (default)"
            rows.append([
                "simulator's SSH" if server == "sim" else "OpenSSH sshd", phase, label,
                fmt(s["wall_s"], 1, 2, " s"),
                fmt(s["bytes_wire"], 1e-6, 2, " MB") if s["bytes_wire"] else "–",
                (fmt(s["bytes_up"], 1e-6, 2) + " / " + fmt(s["bytes_down"], 1e-6, 3)) if s["bytes_up"] else "–",
                fmt(s["ssh_connections"], 1, 0) if s["ssh_connections"] else "–",
                fmt(s["api_bytes"], 1e-3, 1, " kB") if s["api_bytes"] else "–",
                fmt(s["cpu_s"], 1, 2, " s"),
                fmt(s["files_deployed"], 1, 0) if s["files_deployed"] else "–",
                f"{s['runs'] - s['failed']}/{s['runs']}",
            ])
    return rows


HEADER = ["server", "deploy", "tool", "wall time", "bytes on the wire (SSH)", "MB up / down",
          "SSH conns", "API bytes", "CPU", "files_deployed", "ok"]


def markdown(results: dict) -> str:
    m = results["machine"]
    tree = results["tree"]
    lines = [
        "# Deploy benchmark (issue 14)",
        "",
        f"`{results['command']}` on {results['finished_at']}: {m['cpu']}, {m['cores']} cores, {m['os']}, "
        f"{m['rustc']}, {m['rsync']}, {m['openssh']}. Source: {results['source']}.",
        "",
        f"The tree: {tree['files']:,} files, {tree['bytes'] / 1e6:.1f} MB ({tree['binary_files']} binaries, "
        f"{tree['binary_bytes'] / 1e6:.1f} MB of them), {tree['directories']} directories (one empty), "
        f"{tree['symlinks']} symlinks, {tree['executables']} executables, one 0600 file (seed {tree['seed']}, "
        "fixed mtimes). Latency: "
        f"bench/latency.py, {results['delay_ms']:g} ms each way (measured round trip "
        f"{results['latency_check']['rtt_ms_median']:.1f} ms median), no netem. Medians of "
        f"{results['reps']} repetition(s) (min–max); bytes are the TCP payload through the relay, both "
        "directions; the deployed tree of every run was compared with the source (files, SHA-256, modes, "
        "symlinks, directories). "
        f"Other work on the machine during the runs: {results['load']['others_cores_during_runs']:.2f} cores "
        f"(load average {results['load']['before_runs']:.1f} before).",
        "",
    ]
    if not results["berth_deploys"]:
        lines += ["**TODO:** the berth binary measured has no mittwald deploy yet (its help lists no "
                  "BERTH_SSH_HOST), so only rsync was measured; re-run once the `mittwald deploy:` commits "
                  "are in.", ""]
    lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    compare = []
    for phase in PHASES:
        tools = results["summary"].get(f"sshd/{phase}", {})
        b, r = tools.get("berth"), tools.get("rsync")
        if b and r and b["wall_s"] and r["wall_s"] and b["bytes_wire"] and r["bytes_wire"]:
            compare.append(f"{phase}: berth {b['wall_s']['median']:.2f} s / {b['bytes_wire']['median'] / 1e6:.2f} MB, "
                           f"rsync {r['wall_s']['median']:.2f} s / {r['bytes_wire']['median'] / 1e6:.2f} MB "
                           f"(berth ×{b['wall_s']['median'] / r['wall_s']['median']:.2f} the time, "
                           f"×{b['bytes_wire']['median'] / r['bytes_wire']['median']:.2f} the bytes)")
    if compare:
        lines += ["", "berth versus `rsync -a` against the same OpenSSH sshd: " + "; ".join(compare) + "."]
    lines += [
        "",
        "rsync runs only against OpenSSH: the simulator's SSH endpoint has no rsync (a small command "
        "language: tar, find, sha256sum, mv, ...). berth runs with BERTH_RESTART=false and BERTH_DELETE=true; "
        "its cold deploy includes installing the app through the API (the simulator's time-to-ready 0; its API "
        f"behind the same latency), and against the simulator the temporary SSH user's activation delay is "
        f"{results['ssh_activation_ms']} ms. berth's API-only row shows that part alone.",
        "",
    ]
    builds = results["builds"]
    if builds:
        lines += ["| build | commit | cold release build | release binary |", "|---|---|---|---|"]
        for key in ("before", "after"):
            b = builds.get(key)
            if b:
                lines.append(f"| {key} | `{b['commit']}` ({b['rev']}) | {b['cold_build_s']:.0f} s "
                             f"(CPU {b['build_cpu_s']:.0f} s; load {b['load_before']:.1f} before, other work "
                             f"{b['others_cores_during_build']:.2f} cores meanwhile) | {b['binary_size'] / 1e6:.2f} MB "
                             f"({b['binary_size']:,} bytes) |")
        lines += ["", "Cold: `cargo build --release --locked` in a fresh target dir after `cargo fetch`, "
                  "one after the other in the same run.", ""]
    if results["targets"]:
        lines += ["| target | measured | goal | |", "|---|---|---|---|"]
        for t in results["targets"]:
            lines.append(f"| {t['target']} | {t['value']} | {t['goal']} | {'PASS' if t['met'] else 'FAIL'} |")
        lines.append("")
    lines += transport_section(results)
    failed = [r for r in results["runs"] + results.get("transports", {}).get("runs", []) if not r["ok"]]
    if failed:
        lines += ["Failed runs:", ""] + [f"- {r['server']} {r['tool']} {r['phase']} #{r['rep'] + 1}: "
                                         f"{r.get('error', '')[:600]}" for r in failed] + [""]
    return "\n".join(lines)


def transport_section(results: dict) -> list[str]:
    """Issue 14, point 4: SFTP or one tar stream over an exec channel, the evidence for the choice.
    From results["transports"] (a `--transports` run merged into saved results) or else from the
    run's own sshd/cold rows."""
    t = results.get("transports")
    tools = (t or results)["summary"].get("sshd/cold", {})
    sftp, tar = tools.get("sftp"), tools.get("tar-ssh")
    if not (sftp and tar):
        return []
    lines = ["## Transport: SFTP or one tar stream over an exec channel (issue 14, point 4)", ""]
    rtt = (t or results)["latency_check"]["rtt_ms_median"]
    if t:
        lines += [f"Measured apart, `{t['command']}` on {t['finished_at']} ({t['source']}; other work on the "
                  f"machine {t['load']['others_cores_during_runs']:.2f} cores), and merged here; the rest of "
                  "this file is the full run above. Same tree, same sshd setup, same relay "
                  f"({t['delay_ms']:g} ms each way, round trip {rtt:.1f} ms median), {t['reps']} repetition(s), "
                  "the tools' order alternating; every run cold (a new, empty target directory) and its tree "
                  "compared with the source.", ""]
    else:
        lines += ["The same run as above: cold deploys (a new, empty target directory) to the OpenSSH sshd, "
                  "every tree compared with the source.", ""]
    lines += ["| transport | wall time | bytes on the wire | MB up / down | CPU | ok |", "|---|---|---|---|---|---|"]
    for tool in ("tar-ssh", "sftp", "berth", "rsync"):
        st = tools.get(tool)
        if not st:
            continue
        lines.append(f"| {TOOL_LABELS[tool]}{' (tar over one exec channel, plus its API requests)' if tool == 'berth' else ''} | "
                     f"{fmt(st['wall_s'], 1, 2, ' s')} | "
                     f"{fmt(st['bytes_wire'], 1e-6, 2, ' MB') if st['bytes_wire'] else '–'} | "
                     + ((fmt(st['bytes_up'], 1e-6, 2) + ' / ' + fmt(st['bytes_down'], 1e-6, 3)) if st['bytes_up'] else '–')
                     + f" | {fmt(st['cpu_s'], 1, 2, ' s')} | {st['runs'] - st['failed']}/{st['runs']} |")
    if sftp["wall_s"] and tar["wall_s"]:
        s_t, t_t = sftp["wall_s"]["median"], tar["wall_s"]["median"]
        s_b, t_b = sftp["bytes_wire"]["median"], tar["bytes_wire"]["median"]
        files = (t or results)["tree"]["files"]
        if t_t <= s_t:
            verdict = (f"**One tar stream over an exec channel is the faster**: {t_t:.2f} s against SFTP's "
                       f"{s_t:.2f} s (median), SFTP ×{s_t / t_t:.1f} the time ({s_t - t_t:.1f} s more), "
                       f"×{s_b / t_b:.2f} the bytes ({s_b / 1e6:.2f} MB against {t_b / 1e6:.2f} MB).")
        else:
            verdict = (f"**SFTP is the faster**: {s_t:.2f} s against the tar stream's {t_t:.2f} s (median), "
                       f"tar ×{t_t / s_t:.1f} the time, ×{t_b / s_b:.2f} the bytes.")
        extra = (s_t - t_t) * 1000 / rtt
        if s_b < t_b:
            verdict += " (tar's 512-byte header per entry and padding to 512 bytes cost more than SFTP's requests.)"
        lines += ["", verdict + f" SFTP's extra time is about {extra:,.0f} round trips of {rtt:.1f} ms, "
                  f"{extra / files:.1f} per file of the {files:,}: OpenSSH's client pipelines the writes "
                  "within a file (up to 64 requests) but waits for each open, each close, each `mkdir` and "
                  "each `ln -s`, one file after the other, so its time grows with the number of files times "
                  "the round trip, whereas the tar stream is one request and then bytes, bounded by the "
                  "bandwidth and a few round trips for the login. An SFTP client of one's own could pipeline "
                  "opens and closes across files too, but would still send a request and receive a status "
                  "per file, directory and symlink; berth keeps the tar stream over one exec channel."]
        b = tools.get("berth")
        if b and b["wall_s"]:
            lines += ["", f"berth itself (its tar stream over one exec channel, plus installing the app through "
                      f"the API and its own steps around the stream) took {b['wall_s']['median']:.2f} s in the same run, "
                      f"×{b['wall_s']['median'] / t_t:.2f} the bare tar stream's time."]
    lines.append("")
    return lines


def print_table(results: dict) -> None:
    rows = [HEADER] + table_rows(results)
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for t in results["targets"]:
        print(f"{'PASS' if t['met'] else 'FAIL'}  {t['target']}: {t['value']} (goal {t['goal']})")
    if results.get("transports"):
        print("\n".join(transport_section(results)))


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True, timeout=10).stderr.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
            "rustc": house.first_line(["rustc", "--version"]), "python": platform.python_version(),
            "rsync": " ".join(house.first_line(["rsync", "--version"]).split()[:3]),
            "openssh": ssh_version.split(",")[0]}


def main(argv) -> int:
    parser = argparse.ArgumentParser(description="berth's deploy benchmark (see the module docstring)")
    parser.add_argument("--short", action="store_true", help="CI: one rep, no build timing")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--binary", type=Path, help="use this berth binary; no build timing")
    parser.add_argument("--skip-build", action="store_true", help="no build timing (target/release/berth)")
    parser.add_argument("--skip-before", action="store_true", help="no cold build of the 'before' commit")
    parser.add_argument("--before-rev", default=BEFORE_REV)
    parser.add_argument("--servers", default="sim,sshd")
    parser.add_argument("--no-rsync-mw", action="store_true", help="leave out rsync with mw app upload's flags")
    parser.add_argument("--ssh-activation-ms", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=10.0)
    parser.add_argument("--check-targets", action="store_true")
    parser.add_argument("--transports", action="store_true",
                        help="only the transport comparison (sftp, tar over ssh, berth, rsync; cold, against "
                             "sshd), merged into the saved results (--json) as their 'transports' part")
    parser.add_argument("--render", type=Path, metavar="JSON", help="only rewrite the markdown from saved results")
    args = parser.parse_args(argv[1:])
    if args.render:
        results = json.loads(args.render.read_text())
        results["targets"] = targets(results)
        args.render.write_text(json.dumps(results, indent=1) + "\n")
        md_path = args.markdown or ROOT / "BENCHMARKS-deploy.md"
        md_path.write_text(markdown(results))
        print_table(results)
        log(f"wrote {md_path} from {args.render}")
        return 0
    if args.transports and args.short:
        parser.error("--transports is not part of --short")
    reps = 1 if args.short else args.reps
    if not 1 <= reps <= 50:
        parser.error("--reps must be between 1 and 50")
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if set(servers) - {"sim", "sshd"}:
        parser.error("--servers takes sim and sshd")
    if "sshd" in servers and not (os.path.exists(SSHD) and shutil.which("rsync")):
        if not args.short:
            raise BenchError(f"{SSHD} or rsync is missing (leave out the real sshd with --servers sim)")
        log(f"{SSHD} or rsync missing: the simulator only")
        servers.remove("sshd")
    if args.transports:
        servers = ["sshd"]
    json_path = args.json or (WORK.parent / ".work-deploy-short.json" if args.short else BENCH / "deploy-results.json")
    md_path = args.markdown or (WORK.parent / ".work-deploy-short.md" if args.short else ROOT / "BENCHMARKS-deploy.md")

    began = time.monotonic()
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    latency = self_check(args.delay_ms)
    log(f"latency relay: round trip {latency['rtt_ms_median']:.1f} ms median ({args.delay_ms:g} ms each way)")

    builds: dict = {}
    if args.binary:
        binary, source = args.binary.resolve(), f"given binary {args.binary}"
    elif args.short or args.skip_build or args.transports:
        binary = ensure_release_binary()
        source = f"{os.path.relpath(binary, ROOT)} (working tree at {house.first_line(['git', '-C', str(ROOT), 'rev-parse', '--short', 'HEAD'])})"
    else:
        builds["after"] = cold_build("HEAD", "after")
        binary, source = Path(builds["after"]["binary"]), f"git archive HEAD ({builds['after']['commit']})"
        if not args.skip_before:
            builds["before"] = cold_build(args.before_rev, "before")
    berth_ok = berth_supports_deploy(binary)
    if not berth_ok:
        log("TODO: this berth has no mittwald deploy yet (no BERTH_SSH_HOST in its help): rsync only")

    tree = WORK / "app"
    tree_info = make_tree(tree)
    tree_snapshot = snapshot(tree)
    log(f"tree: {tree_info['files']} files, {tree_info['bytes'] / 1e6:.2f} MB, {tree_info['symlinks']} symlinks")

    bench = Bench(args, binary, tree, tree_snapshot)
    load = {"before_runs": os.getloadavg()[0]}
    busy_before, runs_began = house.cpu_busy_seconds(), time.monotonic()
    own_before = sum(os.times()[:4])
    try:
        bench.start(servers)
        bench.run_all(servers, reps, berth_ok)
    finally:
        bench.stop()
    # Other work on the machine during the runs: everything busy less this script and its children
    # (the tools, the simulator, sshd: all waited for by now).
    elapsed = time.monotonic() - runs_began
    own = sum(os.times()[:4]) - own_before
    load["others_cores_during_runs"] = max(house.cpu_busy_seconds() - busy_before - own, 0.0) / elapsed
    load["own_cores_during_runs"] = own / elapsed
    load["end"] = os.getloadavg()[0]

    results = {
        "version": RESULTS_VERSION,
        "short": args.short,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": time.monotonic() - began,
        "command": " ".join(["python3", "bench/deploy.py", *argv[1:]]),
        "machine": machine(),
        "source": source,
        "binary_size": binary.stat().st_size,
        "berth_deploys": berth_ok,
        "servers": servers,
        "reps": reps,
        "delay_ms": args.delay_ms,
        "latency_check": latency,
        "ssh_activation_ms": args.ssh_activation_ms,
        "tree": tree_info,
        "load": load,
        "builds": builds,
        "summary": summarize(bench.runs),
        "runs": bench.runs,
    }
    results["targets"] = targets(results)
    saved = json.loads(json_path.read_text()) if args.transports and json_path.exists() else None
    if saved and not saved.get("short") and saved.get("version") == RESULTS_VERSION:
        # Merged: the saved full run stays as it was; this run is its "transports" part.
        saved["transports"] = {k: results[k] for k in (
            "finished_at", "duration_s", "command", "machine", "source", "binary_size", "reps", "delay_ms",
            "latency_check", "tree", "load", "summary", "runs")}
        results = saved
        results["targets"] = targets(results)
        log(f"merged into {json_path} as its 'transports' part (the rest of it unchanged)")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    md_path.write_text(markdown(results))
    print_table(results)
    log(f"wrote {md_path} and {json_path} in {time.monotonic() - began:.0f} s")
    failed = [r for r in bench.runs if not r["ok"]]
    berth_failed = [r for r in failed if r["tool"].startswith("berth")]
    print(f"deploy-bench: {len(bench.runs) - len(failed)} passed, {len(failed)} failed", flush=True)
    if failed:
        log(f"{len(failed)} run(s) failed; logs in {WORK / 'runs'}")
        if args.short or berth_failed or not args.check_targets:
            return 1
    if args.check_targets and any(not t["met"] for t in results["targets"]):
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except BenchError as error:
        log(f"FAILED: {error}")
        sys.exit(1)
    except house.BenchError as error:
        log(f"FAILED: {error}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
