#!/usr/bin/env python3
"""Side-by-side benchmark of etcd-rs and etcd 3.4.23; writes BENCHMARKS.md.

Run through bench/compare.sh, which installs and builds what this needs.

What it does, in order:
  1. Records the machine (CPU, memory, kernel, the data-dir disk's
     write+fdatasync rate) and the versions.
  2. For each scenario (1 member, 3 members): starts an etcd-rs cluster and
     an etcd cluster the same way (loopback, ephemeral ports, fresh data dirs
     under target/, default durability: both fsync before acknowledging,
     `--logger=zap --log-level=error`), then runs every workload against
     both, alternating etcd-rs, etcd, etcd-rs, etcd... so drift in the
     machine hits both; each figure is the median of BENCH_REPEATS runs.
     Server RSS is sampled from /proc during the main put run, and every
     member's CPU time (utime + stime, /proc/<pid>/stat) just before and
     just after every run, for server CPU seconds per 100,000 operations.
     With 1 member, the TLS rows follow: a fresh single member of each,
     serving https:// client URLs with the same certificate (a CA and a
     server certificate made with openssl in a temp dir for the run),
     driven by etcd-benchmark with --cacert; alternated the same way.
     Then the auth rows, the same way: a fresh single member of each with
     user root (role root) and auth on, driven by etcd-benchmark
     --user=root:...; and again as user bench, whose role grants readwrite
     on every key, so its requests take the permission check root skips.
  3. Restart: loads 1M keys (8-byte keys, 256-byte values) into a fresh
     single member of each, stops it with SIGTERM and times exec -> first
     successful linearizable get, BENCH_REPEATS times each, alternating.
  4. Defragment: loads 300k keys of 1 KiB values into a fresh single member
     of each, overwrites every key once, compacts at the current revision,
     then times `etcdctl defrag` while a writer (100 puts/s) and a reader
     (100 linearizable ranges/s) run against the same member; once each.
  5. Writes BENCHMARKS.md, bench/results/summary.json, bench/results/ratios.png
     (raw etcd-benchmark output under bench/results/raw/, gitignored).

Environment:
  BENCH_SCALE      multiplies every request total and the 1M keys (default 1;
                   0.02 is a smoke run of a few minutes; below 1 the report
                   is marked as not representative)
  BENCH_REPEATS    runs per workload and server (default 2); medians reported
  BENCH_SCENARIOS  which cluster sizes to run, e.g. "1" or "1,3" (default 1,3)
  BENCH_ONLY       comma-separated workload ids to run (default all: put-1,
                   put-100, put-1000, put-1000-all, range-l-1, ...; the TLS
                   rows are put-1-tls, put-1000-tls, range-l-1-tls,
                   range-l-1000-tls; the auth rows the same ids ending in
                   -auth (as root) and -auth-user (as user bench))
  BENCH_TLS        0 skips the TLS rows (default 1)
  BENCH_AUTH       0 skips the auth rows, both -auth and -auth-user (default 1)
  BENCH_GATEWAY    0 skips the JSON gateway rows (put-1-gw, put-100-gw,
                   range-l-1-gw, range-l-100-gw; 1 member only; default 1)
  BENCH_RESTART    0 skips the restart measurement (default 1)
  BENCH_DEFRAG     0 skips the defragment measurement (default 1)
  BENCH_ETCD_RS    the etcd-rs binary to measure (default target/release/etcd)
  BENCH_KEEP       1 keeps the data dirs under target/bench/ (default 0)
  BENCH_OUT        the report's path (default BENCHMARKS.md at the repo root)

bench/notes.md, if present, is copied into the report under "Notes" (for
hand-written findings that must survive regeneration).

Every server is started by this process with PR_SET_PDEATHSIG and killed on
any exit path, so none outlives the run.
"""

import contextlib
import ctypes
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
# BENCH_ETCD_RS: another etcd-rs binary (an older build, for before/after figures).
OURS_BIN = Path(os.environ.get("BENCH_ETCD_RS", REPO / "target" / "release" / "etcd"))
ETCD_BIN = Path("/usr/bin/etcd")
BENCH_BIN = REPO / "target" / "release" / "etcd-benchmark"
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

OURS, ETCD = "etcd-rs", "etcd"
KINDS = (OURS, ETCD)

START_TIMEOUT = 60.0  # seconds for a cluster to answer a linearizable get
RUN_TIMEOUT = 900.0  # seconds for one etcd-benchmark run
DEFRAG_TIMEOUT = 900  # seconds for one etcdctl compaction or defrag
# The defragment scenario's writer and reader run back to back in runs of
# this many seconds (at 100 requests/s) until the defrag is over:
# etcd-benchmark reports only at the end of a run, and how long a defrag
# takes is what is measured.
DEFRAG_LANE_SECS = 3
VALUE_256 = "v" * 256
# Issue 15's CPU goal is etcd-rs's CPU per put at most 0.6 of etcd's; the
# tables orient every ratio so > 1 is better (etcd/etcd-rs), so the mark is
# at 1/0.6.
CPU_GOAL = 1 / 0.6
# The defragment scenario's goal: no request slower than this during it.
STALL_GOAL = 0.100
# /proc/<pid>/stat counts CPU time in these.
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The auth rows' users, "name:password" as etcdctl and etcd-benchmark take them.
ROOT_USER = "root:bench-root-pw"
BENCH_USER = "bench:bench-user-pw"


def env_float(name, default):
    raw = os.environ.get(name)
    return float(raw) if raw else default


SCALE = env_float("BENCH_SCALE", 1.0)
REPEATS = max(1, int(env_float("BENCH_REPEATS", 2)))
SCENARIOS = [int(s) for s in os.environ.get("BENCH_SCENARIOS", "1,3").split(",") if s.strip()]
ONLY = {s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()}
DO_RESTART = os.environ.get("BENCH_RESTART", "1") != "0"
DO_DEFRAG = os.environ.get("BENCH_DEFRAG", "1") != "0"
DO_TLS = os.environ.get("BENCH_TLS", "1") != "0"
DO_GATEWAY = os.environ.get("BENCH_GATEWAY", "1") != "0"
DO_AUTH = os.environ.get("BENCH_AUTH", "1") != "0"
KEEP = os.environ.get("BENCH_KEEP", "0") == "1"
OUT = Path(os.environ.get("BENCH_OUT") or REPO / "BENCHMARKS.md")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def scaled(base, floor):
    return max(floor, int(round(base * SCALE)))


# ---------------------------------------------------------------- processes

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """Runs in the child before exec: the kernel kills it if we die."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


LIVE = []  # every Member whose process may still run


def kill_everything():
    for member in list(LIVE):
        member.kill()


class Fatal(Exception):
    """A failure that stops the run (a server that does not start)."""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Certs:
    """The TLS rows' certificates, made with the openssl CLI in `directory`:
    a CA, and one server certificate it signed (EC P-256 keys, SANs
    IP:127.0.0.1 and DNS:localhost, serverAuth + clientAuth) that both
    servers serve their client URLs with."""

    CONFIG = """[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

    def __init__(self, directory):
        d = Path(directory)
        (d / "openssl.cnf").write_text(self.CONFIG)
        self.ca, self.cert, self.key = d / "ca.pem", d / "server.pem", d / "server.key"
        steps = [
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key"],
            ["req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=etcd-rs bench CA", "-days", "7",
             "-config", "openssl.cnf", "-extensions", "ca", "-out", "ca.pem"],
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "server.key"],
            ["req", "-new", "-key", "server.key", "-subj", "/CN=localhost", "-config", "openssl.cnf", "-out", "server.csr"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "7",
             "-extfile", "openssl.cnf", "-extensions", "leaf", "-out", "server.pem"],
        ]
        for step in steps:
            out = subprocess.run([OPENSSL, *step], cwd=d, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if out.returncode != 0:
                raise Fatal(f"openssl {' '.join(step)} failed: {out.stderr.strip()}")


class Member:
    """One server process of a cluster; with `certs`, its client URL is
    https:// and served with that certificate (peers stay plain text)."""

    def __init__(self, kind, name, data_dir, log_path, certs=None):
        self.kind = kind
        self.name = name
        self.data_dir = data_dir
        self.log_path = log_path
        self.certs = certs
        self.proc = None
        self.new_ports()

    def new_ports(self):
        self.client_port = free_port()
        self.peer_port = free_port()

    @property
    def client_url(self):
        scheme = "https" if self.certs else "http"
        return f"{scheme}://127.0.0.1:{self.client_port}"

    @property
    def cacert(self):
        """What a client verifies this member's client URL with, if TLS."""
        return self.certs.ca if self.certs else None

    @property
    def peer_url(self):
        return f"http://127.0.0.1:{self.peer_port}"

    def start(self, initial_cluster, token, state="new"):
        binary = OURS_BIN if self.kind == OURS else ETCD_BIN
        args = [
            str(binary),
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={initial_cluster}",
            f"--initial-cluster-token={token}",
            f"--initial-cluster-state={state}",
            "--logger=zap",
            "--log-level=error",
        ]
        if self.certs:
            args += [f"--cert-file={self.certs.cert}", f"--key-file={self.certs.key}"]
        self.log_file = open(self.log_path, "ab")
        self.log_file.write(f"\n=== {' '.join(args)}\n".encode())
        self.log_file.flush()
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            start_new_session=True,  # a Ctrl-C reaches us, and we stop it
        )
        LIVE.append(self)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def status(self):
        """(VmRSS, VmHWM) in bytes, or None if the process is gone."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            return (int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024)
        except (OSError, KeyError, ValueError):
            return None

    def cpu_secs(self):
        """The process's own CPU time so far (utime + stime, every thread),
        seconds, or None if it is gone."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                stat = f.read()
        except OSError:
            return None
        # Fields 14 and 15; the command name (field 2) is in parentheses and
        # may hold spaces, so count from after its closing one (field 3 on).
        fields = stat[stat.rindex(")") + 2 :].split()
        try:
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (IndexError, ValueError):
            return None

    def stop(self, timeout=30.0):
        """SIGTERM, then SIGKILL after `timeout`; returns the seconds it took."""
        if self.proc is None:
            return 0.0
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.kind} {self.name} ignored SIGTERM for {timeout:.0f} s; killing it")
                self.proc.kill()
                self.proc.wait()
        self._forget()
        return time.monotonic() - t0

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._forget()

    def _forget(self):
        if self in LIVE:
            LIVE.remove(self)
        if getattr(self, "log_file", None):
            self.log_file.close()
            self.log_file = None

    def log_tail(self, lines=30):
        try:
            text = Path(self.log_path).read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])


class Cluster:
    """One etcd-rs or etcd cluster of 1 or 3 members on loopback; with
    `certs`, its client URLs are https://. `variant` (e.g. "tls") goes into
    its cluster token."""

    def __init__(self, kind, size, root, certs=None, variant=None):
        self.kind = kind
        self.size = size
        self.root = root
        self.cacert = certs.ca if certs else None
        self.token = f"bench-{kind}-{size}{'-' + variant if variant else ''}-{os.getpid()}"
        slug = "rs" if kind == OURS else "etcd"
        self.members = [
            Member(kind, f"{slug}{i}", root / f"{slug}{i}.data", root / f"{slug}{i}.log", certs)
            for i in range(size)
        ]

    @property
    def endpoints(self):
        return ",".join(m.client_url for m in self.members)

    @property
    def initial_cluster(self):
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    def start(self, fresh=True):
        """Starts every member and waits until each answers a linearizable get.
        Returns the seconds from the first exec to all members ready."""
        for attempt in range(3):
            if fresh:
                for m in self.members:
                    shutil.rmtree(m.data_dir, ignore_errors=True)
            t0 = time.monotonic()
            for m in self.members:
                m.start(self.initial_cluster, self.token, "new")
            try:
                self.wait_ready(t0)
                return time.monotonic() - t0
            except Fatal as e:
                self.stop()
                port_clash = any("address already in use" in m.log_tail(200) for m in self.members)
                if fresh and port_clash and attempt < 2:
                    log(f"{self.kind}: a port was taken meanwhile; retrying with new ports")
                    for m in self.members:
                        m.new_ports()
                    continue
                raise e
        raise Fatal("unreachable")

    def wait_ready(self, t0, timeout=START_TIMEOUT):
        for m in self.members:
            wait_port(m, t0 + timeout)
        for m in self.members:
            while True:
                if not m.alive():
                    raise Fatal(self.failure(m, f"exited with code {m.proc.returncode} during startup"))
                if etcdctl(m.client_url, "get", "bench-probe", timeout=5, cacert=m.cacert) is not None:
                    break
                if time.monotonic() > t0 + timeout:
                    raise Fatal(self.failure(m, f"did not answer a linearizable get within {timeout:.0f} s"))
                time.sleep(0.05)

    def failure(self, m, what):
        return (
            f"{self.kind} member {m.name} ({m.client_url}) {what}\n"
            f"--- last lines of {m.log_path} ---\n{m.log_tail()}"
        )

    def dead_member(self):
        for m in self.members:
            if not m.alive():
                return m
        return None

    def stop(self):
        for m in self.members:
            m.stop()

    def rss(self):
        """(max VmRSS, max VmHWM) over the members, bytes."""
        stats = [s for s in (m.status() for m in self.members) if s]
        if not stats:
            return None
        return (max(s[0] for s in stats), max(s[1] for s in stats))

    def cpu_secs(self):
        """CPU seconds used so far, summed over every member (a cluster's
        cost is all of its members' work), or None if one is gone."""
        secs = [m.cpu_secs() for m in self.members]
        return None if None in secs else sum(secs)

    def data_size(self):
        """Disk usage of the largest member's data dir, bytes."""
        return max(disk_usage(m.data_dir) for m in self.members)


def wait_port(member, deadline):
    while True:
        if not member.alive():
            raise Fatal(
                f"{member.kind} member {member.name} exited with code {member.proc.returncode} during startup\n"
                f"--- last lines of {member.log_path} ---\n{member.log_tail()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", member.client_port), timeout=0.2):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise Fatal(
                f"{member.kind} member {member.name} did not listen on {member.client_url}\n"
                f"--- last lines of {member.log_path} ---\n{member.log_tail()}"
            )
        time.sleep(0.005)


def etcdctl(endpoint, *args, timeout=5, cacert=None, user=None):
    """Runs etcdctl against one endpoint (verifying an https:// one with
    `cacert`, as `user` "name:password" if given); its stdout, or None on
    failure."""
    ok, out = etcdctl_run(endpoint, *args, timeout=timeout, cacert=cacert, user=user)
    return out if ok else None


def etcdctl_run(endpoint, *args, timeout=5, cacert=None, user=None):
    """etcdctl as `etcdctl` runs it: (True, stdout), or (False, why)."""
    cmd = [
        ETCDCTL,
        f"--endpoints={endpoint}",
        "--dial-timeout=2s",
        f"--command-timeout={timeout}s",
        *([f"--cacert={cacert}"] if cacert else []),
        *([f"--user={user}"] if user else []),
        *args,
    ]
    try:
        out = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout + 5,
            env={**os.environ, "ETCDCTL_API": "3"},
            preexec_fn=_die_with_parent,
        )
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout + 5} s"
    if out.returncode == 0:
        return True, out.stdout.decode(errors="replace")
    # etcdctl's own "Error: ..." line, without the client library's retry warnings.
    lines = out.stderr.decode(errors="replace").strip().splitlines()
    errors = [l for l in lines if l.startswith("Error:")]
    return False, (errors or lines or [f"exit code {out.returncode}"])[-1]


def disk_usage(path):
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


# ---------------------------------------------------------------- machine


def read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def command_output(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def fdatasync_rate(directory, seconds=2.0, size=2300):
    """Appends `size`-byte writes, each followed by fdatasync, for `seconds`
    (etcd's recommended fio check uses 2300-byte writes): (ops/s, mean ms, p99 ms)."""
    path = Path(directory) / "fdatasync-probe"
    block = os.urandom(size)
    lat = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            t0 = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            lat.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink()
    lat.sort()
    return {
        "ops_per_sec": len(lat) / sum(lat),
        "mean_ms": 1000 * statistics.mean(lat),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
    }


def version_line(lines):
    """`etcd --version` output as "etcd-rs 0.1.0, etcd API 3.5.0, Go go1.19.8"."""
    fields = dict(l.split(":", 1) for l in lines if ":" in l)
    parts = []
    if "etcd-rs Version" in fields:
        parts.append(f"etcd-rs {fields['etcd-rs Version'].strip()}, etcd API {fields.get('etcd Version', '?').strip()}")
    elif "etcd Version" in fields:
        parts.append(f"etcd {fields['etcd Version'].strip()}")
    if "Go Version" in fields:
        parts.append(f"built with {fields['Go Version'].strip()}")
    return ", ".join(parts) or " ".join(lines)


def machine(run_dir):
    cpuinfo = read("/proc/cpuinfo")
    model = next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.startswith("model name")), platform.processor())
    meminfo = read("/proc/meminfo")
    mem_kb = next((int(l.split()[1]) for l in meminfo.splitlines() if l.startswith("MemTotal")), 0)
    os_name = next(
        (l.split("=", 1)[1].strip().strip('"') for l in read("/etc/os-release").splitlines() if l.startswith("PRETTY_NAME=")),
        platform.system(),
    )
    df = command_output("df", "--output=source,fstype", str(run_dir)).splitlines()
    source, fstype = (df[-1].split() + ["?", "?"])[:2] if df else ("?", "?")
    etcd_version = command_output(str(ETCD_BIN), "--version").splitlines()
    ours_version = command_output(str(OURS_BIN), "--version").splitlines()
    git_head = command_output("git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD")
    dirty = command_output("git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", "crates", "Cargo.toml", "Cargo.lock")
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": mem_kb / 1024 / 1024,
        "kernel": platform.release(),
        "os": os_name,
        "data_dir": str(run_dir),
        "filesystem": f"{fstype} on {source}",
        "loadavg_start": read("/proc/loadavg").split()[:3],
        "etcd_version": version_line(etcd_version),
        "ours_version": version_line(ours_version),
        "benchmark_version": command_output(str(BENCH_BIN), "--version"),
        "git": git_head + (" (with uncommitted changes under crates/)" if dirty else ""),
    }


# ---------------------------------------------------------------- workloads


class Workload:
    """One etcd-benchmark invocation, run identically against both servers."""

    def __init__(self, wid, label, sub, args, kind="requests", target_leader=True, rss=False, goals=None, variant=None, variant_of=None, user=None):
        self.id = wid
        self.label = label
        self.sub = sub  # etcd-benchmark subcommand and its positional args
        self.args = args
        self.kind = kind  # "requests", "watch" (events/s), "paced" (rate-limited: latency only)
        self.target_leader = target_leader
        self.rss = rss  # sample server RSS during this workload
        # The goals for this row, each as a ratio oriented like the
        # table's (> 1 = etcd-rs better): "rate" (ops/s), "p99", "cpu".
        self.goals = goals or {}
        self.variant = variant  # for a TLS or auth row: its Variant's name ("tls", "auth", ...)
        self.variant_of = variant_of  # ... and the id of the same workload as a plain row
        self.user = user  # "name:password" etcd-benchmark authenticates as

    def command(self, endpoints, size, cacert=None):
        cmd = [str(BENCH_BIN), *self.sub, f"--endpoints={endpoints}", *self.args, "--json"]
        if cacert:
            cmd.append(f"--cacert={cacert}")
        if self.user:
            cmd.append(f"--user={self.user}")
        if size > 1 and self.target_leader:
            cmd.append("--target-leader")
        return cmd


def workloads(size):
    """The plain-text rows BENCH_ONLY selects."""
    return [w for w in all_workloads(size) if not ONLY or w.id in ONLY]


def all_workloads(size):
    put_kv = ["--key-size=8", "--val-size=256", "--key-space-size=100000"]
    many = ["--clients=1000", "--conns=100"]
    # Issue 15's goals; every other row is measured without one.
    ws = [
        Workload(
            "put-1",
            "put, 1 client",
            ["put"],
            [f"--total={scaled(4000, 100)}", "--clients=1", "--conns=1", *put_kv],
            goals={"rate": 1.0, "p99": 1.0, "cpu": CPU_GOAL},
        ),
        Workload(
            "put-100",
            "put, 100 clients",
            ["put"],
            [f"--total={scaled(50000, 1000)}", "--clients=100", "--conns=10", *put_kv],
            goals={"rate": 1.5, "cpu": CPU_GOAL},
        ),
        Workload(
            "put-1000",
            "put, 1000 clients",
            ["put"],
            [f"--total={scaled(100000, 2000)}", *many, *put_kv],
            rss=True,
            goals={"rate": 1.5, "cpu": CPU_GOAL},
        ),
    ]
    if size > 1:
        ws.append(
            Workload(
                "put-1000-all",
                "put, 1000 clients, all members",
                ["put"],
                [f"--total={scaled(100000, 2000)}", *many, *put_kv],
                target_leader=False,
            )
        )
    for c in ("l", "s"):
        name = "linearizable" if c == "l" else "serializable"
        ws.append(
            Workload(f"range-{c}-1", f"range {name}, 1 client", ["range", "foo"], [f"--total={scaled(10000, 200)}", f"--consistency={c}", "--clients=1", "--conns=1"])
        )
    for c in ("l", "s"):
        name = "linearizable" if c == "l" else "serializable"
        ws.append(
            Workload(
                f"range-{c}-1000",
                f"range {name}, 1000 clients" + ("" if c == "l" or size == 1 else ", all members"),
                ["range", "foo"],
                [f"--total={scaled(200000, 2000)}", f"--consistency={c}", *many],
                # Serializable reads are answered by any member: spread them.
                target_leader=(c == "l"),
            )
        )
    ws += [
        Workload("txn-put", "txn-put, 1000 clients", ["txn-put"], [f"--total={scaled(50000, 2000)}", *many, *put_kv, "--txn-ops=1"]),
        Workload(
            "watch-1k",
            "watch fan-out, 1,000 watchers",
            ["watch"],
            ["--streams=10", "--watch-per-stream=100", "--clients=10", "--conns=10", f"--put-total={scaled(1000, 10)}"],
            kind="watch",
        ),
        Workload(
            "watch-10k",
            "watch fan-out, 10,000 watchers",
            ["watch"],
            ["--streams=100", "--watch-per-stream=100", "--clients=100", "--conns=100", f"--put-total={scaled(100, 5)}"],
            kind="watch",
        ),
        Workload(
            "watch-latency",
            "watch latency, 100 watchers, 100 puts/s",
            ["watch-latency"],
            ["--streams=10", "--watchers-per-stream=10", "--put-rate=100", f"--put-total={scaled(500, 20)}"],
            kind="paced",
        ),
        Workload("lease-keepalive", "lease keepalive, 1000 clients", ["lease-keepalive"], [f"--total={scaled(100000, 2000)}", *many]),
    ]
    if size == 1 and DO_GATEWAY:
        # The JSON gateway: the same put and range over HTTP/1.1, one
        # connection per client (--conns does not apply).
        ws += [
            Workload("put-1-gw", "put, 1 client, gateway", ["put"], [f"--total={scaled(4000, 100)}", "--clients=1", "--gateway", *put_kv]),
            Workload("put-100-gw", "put, 100 clients, gateway", ["put"], [f"--total={scaled(50000, 1000)}", "--clients=100", "--gateway", *put_kv]),
            Workload("range-l-1-gw", "range linearizable, 1 client, gateway", ["range", "foo"], [f"--total={scaled(10000, 200)}", "--consistency=l", "--clients=1", "--gateway"]),
            Workload("range-l-100-gw", "range linearizable, 100 clients, gateway", ["range", "foo"], [f"--total={scaled(100000, 2000)}", "--consistency=l", "--clients=100", "--gateway"]),
        ]
    return ws


VARIANT_ROWS = ("put-1", "put-1000", "range-l-1", "range-l-1000")


class Variant:
    """A way of re-running VARIANT_ROWS on a fresh single member of each
    server set up differently (TLS client URLs, auth on): rows
    `<id>-<name>` labelled "<label>, <label of the variant>", each shown
    right after its plain row, and a table of what the variant costs each
    server against itself."""

    def __init__(self, name, label, what, enabled, cost_title, tls=False, setup=(), user=None):
        self.name = name  # the rows' id suffix
        self.label = label  # the rows' label suffix
        self.what = what  # what the log says of its clusters
        self.enabled = enabled
        self.cost_title = cost_title  # the cost table's heading
        self.tls = tls  # https:// client URLs with the run's certificate
        self.setup = setup  # etcdctl commands run on the fresh member, in order, before the key is put
        self.user = user  # "name:password" the rows (and the key's put) authenticate as


def auth_setup(*grants):
    """Root with the root role (etcd needs no `role add root` for that
    grant), `grants` (more users and roles), then auth on."""
    root, _ = ROOT_USER.split(":", 1)
    return [("user", "add", ROOT_USER), ("user", "grant-role", root, "root"), *grants, ("auth", "enable")]


VARIANTS = (
    Variant(
        "tls",
        "TLS",
        "https:// client URLs",
        DO_TLS,
        "TLS against plain text, each server against itself (ops/s: TLS / plain, < 1 = TLS is slower; p99: TLS / plain, > 1 = TLS is slower):",
        tls=True,
    ),
    Variant(
        "auth",
        "auth (root)",
        "auth on, as root",
        DO_AUTH,
        "Auth on (as root) against auth off, each server against itself (ops/s: auth / no auth, < 1 = auth is slower; p99: auth / no auth, > 1 = auth is slower):",
        setup=auth_setup(),
        user=ROOT_USER,
    ),
    Variant(
        "auth-user",
        "auth (user bench)",
        "auth on, as user bench (readwrite on every key)",
        DO_AUTH,
        "Auth on (as user `bench`, readwrite on every key) against auth off, each server against itself (ops/s: auth / no auth, < 1 = auth is slower; p99: auth / no auth, > 1 = auth is slower):",
        # The put workload's keys are zero-padded binary varints, with no
        # common prefix: the role grants the whole key space (from "").
        setup=auth_setup(
            ("role", "add", "bench"),
            ("role", "grant-permission", "--from-key", "bench", "readwrite", ""),
            ("user", "add", BENCH_USER),
            ("user", "grant-role", BENCH_USER.split(":", 1)[0], "bench"),
        ),
        user=BENCH_USER,
    ),
)
VARIANT_ORDER = {v.name: i + 1 for i, v in enumerate(VARIANTS)}  # plain rows are 0


def variant_workloads(size, variant):
    """A variant's rows: put and linearizable range, each as its plain-text
    row (same totals, clients and connections) on the variant's cluster;
    single member only."""
    if size != 1 or not variant.enabled:
        return []
    plain = {w.id: w for w in all_workloads(size)}
    ws = [
        Workload(
            f"{p.id}-{variant.name}",
            f"{p.label}, {variant.label}",
            p.sub,
            p.args,
            kind=p.kind,
            target_leader=p.target_leader,
            variant=variant.name,
            variant_of=p.id,
            user=variant.user,
        )
        for p in (plain[wid] for wid in VARIANT_ROWS)
    ]
    return [w for w in ws if not ONLY or w.id in ONLY]


def percentile(summary, pct):
    for p in summary.get("percentiles", []):
        if abs(p["percent"] - pct) < 1e-9:
            # The tool reports 0 for a percentile it has too few samples for.
            return p["secs"] if p["secs"] > 0 else None
    return None


def figures(workload, out):
    """The table's figures from one etcd-benchmark JSON report."""
    report = out["report"]
    if workload.kind == "watch":
        # Deliveries per second over the fan-out; latency from put sent to
        # event received (from the put's ack, most are 0: they beat the ack).
        rate = out.get("figures", {}).get("events_per_sec")
        lat = out.get("since_put_sent", report)
        ops = out.get("figures", {}).get("events_received")
    elif workload.kind == "paced":
        rate = out.get("figures", {}).get("events_per_sec")
        lat = out.get("since_put_sent", report)
        ops = out.get("figures", {}).get("events_received")
    else:
        rate = report.get("requests_per_sec")
        lat = report
        ops = report.get("requests")
    failures = report.get("failures", 0) + sum(
        s.get("failures", 0) for k, s in out.items() if isinstance(s, dict) and k in ("creation", "puts")
    )
    errors = dict(report.get("errors", {}))
    for k in ("creation", "puts"):
        for e, n in out.get(k, {}).get("errors", {}).items():
            errors[f"{k}: {e}"] = errors.get(f"{k}: {e}", 0) + n
    return {
        "rate": rate,
        "p50": percentile(lat, 50.0),
        "p99": percentile(lat, 99.0),
        "max": (lat.get("slowest_secs") or None) if lat.get("requests") else None,
        # What the server's CPU time is divided by: successful requests, or
        # for the watch rows delivered events.
        "ops": ops,
        "failures": failures,
        "errors": errors,
    }


def run_workload(workload, cluster, tag):
    """Runs one workload against one cluster; its figures (and RSS samples)."""
    cmd = workload.command(cluster.endpoints, cluster.size, cluster.cacert)
    raw = RESULTS / "raw" / f"{tag}.json"
    err = RESULTS / "raw" / f"{tag}.stderr"
    rss_samples = []
    # The servers' CPU time right before and right after the run: nothing
    # else talks to them meanwhile, so the difference is this run's cost
    # (connection set-up included, as a client's would be).
    cpu_before = cluster.cpu_secs()
    t0 = time.monotonic()
    with open(raw, "wb") as out_f, open(err, "wb") as err_f:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out_f, stderr=err_f, preexec_fn=_die_with_parent)
        try:
            while proc.poll() is None:
                if workload.rss:
                    s = cluster.rss()
                    if s:
                        rss_samples.append(s[0])
                dead = cluster.dead_member()
                if dead is not None:
                    proc.kill()
                    proc.wait()
                    msg = cluster.failure(dead, f"exited with code {dead.proc.returncode} during {workload.id}")
                    print(f"\n!!! {msg}\n", file=sys.stderr, flush=True)
                    return {"error": f"server exited (code {dead.proc.returncode}); log: {dead.log_path}", "cmd": cmd}
                if time.monotonic() - t0 > RUN_TIMEOUT:
                    proc.kill()
                    proc.wait()
                    return {"error": f"etcd-benchmark did not finish within {RUN_TIMEOUT:.0f} s", "cmd": cmd}
                time.sleep(0.1 if workload.rss else 0.05)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    wall = time.monotonic() - t0
    cpu_after = cluster.cpu_secs()
    try:
        out = json.loads(raw.read_text())
    except (OSError, ValueError):
        tail = err.read_text(errors="replace")[-2000:] if err.exists() else ""
        return {"error": f"etcd-benchmark exited with code {proc.returncode}: {tail.strip()}", "cmd": cmd, "wall": wall}
    result = figures(workload, out)
    result.update({"wall": wall, "cmd": cmd, "exit": proc.returncode})
    if cpu_before is not None and cpu_after is not None:
        result["cpu_secs"] = cpu_after - cpu_before
        if result["ops"]:
            result["cpu_per_100k"] = result["cpu_secs"] * 100_000 / result["ops"]
    if workload.rss:
        hwm = cluster.rss()
        result["rss_steady"] = statistics.median(rss_samples) if rss_samples else None
        result["rss_peak"] = hwm[1] if hwm else None
    return result


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize_runs(runs):
    ok = [r for r in runs if "error" not in r]
    s = {
        "rate": median(r["rate"] for r in ok),
        "p50": median(r["p50"] for r in ok),
        "p99": median(r["p99"] for r in ok),
        "cpu_per_100k": median(r.get("cpu_per_100k") for r in ok),
        "failures": sum(r.get("failures", 0) for r in ok),
        "errors": [r["error"] for r in runs if "error" in r],
    }
    errors = {}
    for r in ok:
        for e, n in r.get("errors", {}).items():
            errors[e] = errors.get(e, 0) + n
    s["request_errors"] = errors
    return s


def ratio(ours, theirs, higher_is_better=True):
    if not ours or not theirs:
        return None
    return ours / theirs if higher_is_better else theirs / ours


# ---------------------------------------------------------------- scenarios


def measure(w, clusters, size, tag, down=None):
    """Runs workload `w` REPEATS times against each cluster, alternating
    the servers; its report entry. A server in `down` (kind -> why) did not
    start: each of its runs is recorded as failed with that reason."""
    down = down or {}
    runs = {k: [] for k in KINDS}
    for rep in range(REPEATS):
        for k in KINDS:
            if k in down:
                runs[k].append({"error": down[k]})
                continue
            if clusters[k].dead_member() is not None:
                runs[k].append({"error": "server not running (exited earlier)"})
                continue
            r = run_workload(w, clusters[k], f"{tag}-{w.id}-{k}-{rep + 1}")
            runs[k].append(r)
            if "error" in r:
                log(f"{w.id:16} {k:8} run {rep + 1}: FAILED: {r['error']}")
            else:
                log(
                    f"{w.id:16} {k:8} run {rep + 1}: {fmt_rate(r['rate'])}/s, p50 {fmt_ms(r['p50'])}, "
                    f"p99 {fmt_ms(r['p99'])}, CPU {fmt_cpu(r.get('cpu_per_100k'))}/100k, "
                    f"failures {r['failures']} ({r['wall']:.1f} s)"
                )
    return {
        "id": w.id,
        "label": w.label,
        "kind": w.kind,
        "goal": w.goals.get("rate"),  # the throughput goal, as the chart draws it
        "goals": w.goals,
        "variant": w.variant,
        "variant_of": w.variant_of,
        "tls_of": w.variant_of if w.variant == "tls" else None,
        "command": " ".join(shlex.quote(a) for a in w.command("$ENDPOINTS", size, "$CACERT" if w.variant == "tls" else None)).replace(str(REPO) + "/", ""),
        "runs": {k: [{x: y for x, y in r.items() if x != "cmd"} for r in runs[k]] for k in KINDS},
        "median": {k: summarize_runs(runs[k]) for k in KINDS},
    }


def warm_up(clusters, tag, user=None):
    """A short put against each cluster (as `user`), not recorded."""
    for k, cluster in clusters.items():
        warm = Workload("warmup", "warm-up", ["put"], ["--total=200", "--clients=10", "--conns=10"], user=user)
        run_workload(warm, cluster, f"{tag}-warmup-{k}")


def run_scenario(size, run_dir):
    log(f"=== scenario: {size} member(s)")
    root = run_dir / f"{size}-members"
    root.mkdir(parents=True, exist_ok=True)
    clusters = {k: Cluster(k, size, root) for k in KINDS}
    res = {"size": size, "workloads": [], "resources": {k: {} for k in KINDS}}
    try:
        for k in KINDS:
            took = clusters[k].start()
            log(f"{k}: {size} member(s) ready in {took:.2f} s at {clusters[k].endpoints}")
            # The key the range workloads read.
            if etcdctl(clusters[k].members[0].client_url, "put", "foo", VALUE_256) is None:
                raise Fatal(f"{k}: could not put the range workloads' key")
            res["resources"][k]["rss_idle"] = (clusters[k].rss() or (None,))[0]
        warm_up(clusters, f"{size}m")
        for w in workloads(size):
            res["workloads"].append(measure(w, clusters, size, f"{size}m"))
            if w.rss:
                for k in KINDS:
                    ok = [r for r in res["workloads"][-1]["runs"][k] if "error" not in r]
                    res["resources"][k]["rss_steady"] = median(r.get("rss_steady") for r in ok)
                    res["resources"][k]["rss_peak"] = max((r.get("rss_peak") or 0 for r in ok), default=None) or None
                    res["resources"][k]["data_after_put"] = clusters[k].data_size()
        for k in KINDS:
            res["resources"][k]["data_end"] = clusters[k].data_size()
            res["resources"][k]["rss_end"] = (clusters[k].rss() or (None,))[0]
    finally:
        for k in KINDS:
            clusters[k].stop()
    for variant in VARIANTS:
        res["workloads"] += run_variant_rows(size, run_dir, variant)
    # Each TLS or auth row goes right after its plain-text row (where that
    # row would be, if it was not selected), in VARIANTS' order, so the
    # table shows them together.
    order = {w.id: i for i, w in enumerate(all_workloads(size))}
    res["workloads"].sort(key=lambda e: (order.get(e.get("variant_of") or e["id"], len(order)), VARIANT_ORDER.get(e.get("variant"), 0)))
    return res


def run_variant_rows(size, run_dir, variant):
    """A variant's rows: a fresh cluster of each server set up the
    variant's way (with TLS, all on one certificate made for this run). A
    server that does not start or set up that way gets its rows marked
    failed; the other is still measured."""
    ws = variant_workloads(size, variant)
    if not ws:
        return []
    log(f"=== {variant.label} rows: {size} member(s), {variant.what}")
    root = run_dir / f"{size}-members-{variant.name}"
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    clusters, down = {}, {}
    with tempfile.TemporaryDirectory(prefix="etcd-bench-certs-") if variant.tls else contextlib.nullcontext() as cert_dir:
        certs = None
        if variant.tls:
            try:
                certs = Certs(cert_dir)
            except (Fatal, OSError) as e:
                log(f"{variant.label} rows not measured: {e}")
                return [measure(w, {}, size, f"{size}m", {k: f"no certificates: {e}" for k in KINDS}) for w in ws]
        cacert = certs.ca if certs else None
        try:
            for k in KINDS:
                cluster = Cluster(k, size, root, certs, variant.name)
                try:
                    took = cluster.start()
                    url = cluster.members[0].client_url
                    for step in variant.setup:
                        ok, out = etcdctl_run(url, *step, cacert=cacert)
                        if not ok:
                            raise Fatal(f"{k}: etcdctl {shlex.join(step)} failed: {out}")
                    # etcd-benchmark goes on without a token against a server
                    # with auth off: make sure auth is on.
                    if variant.user and etcdctl(url, "get", "foo", cacert=cacert) is not None:
                        raise Fatal(f"{k}: auth is not on: a get without a user succeeded")
                    if etcdctl(url, "put", "foo", VALUE_256, cacert=cacert, user=variant.user) is None:
                        raise Fatal(f"{k}: could not put the range workloads' key with {variant.label}")
                except Fatal as e:
                    cluster.stop()
                    why = str(e).splitlines()[0]
                    down[k] = f"did not start with {variant.label}: {why} (log: {cluster.members[0].log_path})"
                    log(f"{k}: {down[k]}")
                    print(f"\n!!! {e}\n", file=sys.stderr, flush=True)
                    continue
                clusters[k] = cluster
                log(f"{k}: {size} member(s) ready with {variant.label} in {took:.2f} s at {cluster.endpoints}")
            warm_up(clusters, f"{size}m-{variant.name}", variant.user)
            for w in ws:
                entries.append(measure(w, clusters, size, f"{size}m", down))
        finally:
            for cluster in clusters.values():
                cluster.stop()
    return entries


def restart_probe(cluster):
    """Seconds from exec to the first successful linearizable get."""
    m = cluster.members[0]
    t0 = time.monotonic()
    m.start(cluster.initial_cluster, cluster.token, "new")
    wait_port(m, t0 + START_TIMEOUT * 5)
    while True:
        if not m.alive():
            raise Fatal(cluster.failure(m, f"exited with code {m.proc.returncode} during restart"))
        if etcdctl(m.client_url, "get", "foo", timeout=30) is not None:
            return time.monotonic() - t0
        if time.monotonic() - t0 > START_TIMEOUT * 5:
            raise Fatal(cluster.failure(m, "did not answer a linearizable get after restart"))
        time.sleep(0.01)


def run_restart(run_dir):
    keys = scaled(1_000_000, 1000)
    log(f"=== restart with {keys} keys")
    root = run_dir / "restart"
    root.mkdir(parents=True, exist_ok=True)
    clusters = {k: Cluster(k, 1, root) for k in KINDS}
    res = {"keys": keys, "servers": {k: {} for k in KINDS}}
    load = Workload(
        "load",
        f"load {keys} keys",
        ["put"],
        [f"--total={keys}", "--clients=1000", "--conns=100", "--key-size=8", "--val-size=256", f"--key-space-size={keys}", "--sequential-keys"],
    )
    res["load_command"] = " ".join(shlex.quote(a) for a in load.command("$ENDPOINTS", 1)).replace(str(REPO) + "/", "")
    try:
        for k in KINDS:
            clusters[k].start()
            etcdctl(clusters[k].members[0].client_url, "put", "foo", VALUE_256)
            r = run_workload(load, clusters[k], f"restart-load-{k}")
            if "error" in r:
                raise Fatal(f"{k}: loading {keys} keys failed: {r['error']}")
            s = res["servers"][k]
            s["load_rate"] = r["rate"]
            s["load_failures"] = r["failures"]
            s["rss_loaded"] = (clusters[k].rss() or (None,))[0]
            s["stop_secs"] = clusters[k].members[0].stop()
            s["data_loaded"] = clusters[k].data_size()
            log(f"{k}: loaded {keys} keys at {fmt_rate(r['rate'])}/s; data dir {fmt_bytes(s['data_loaded'])}")
        probe = []
        for rep in range(REPEATS):
            for k in KINDS:
                took = restart_probe(clusters[k])
                s = res["servers"][k]
                s.setdefault("restart_secs", []).append(took)
                s.setdefault("rss_restarted", []).append((clusters[k].rss() or (None,))[0])
                if rep == 0:
                    # What one probe costs on a ready server: part of every figure.
                    t0 = time.monotonic()
                    etcdctl(clusters[k].members[0].client_url, "get", "foo")
                    probe.append(time.monotonic() - t0)
                clusters[k].members[0].stop()
                log(f"{k}: restart {rep + 1}: {took:.3f} s to the first linearizable get")
        res["probe_secs"] = median(probe)
        for k in KINDS:
            s = res["servers"][k]
            s["restart_median"] = median(s["restart_secs"])
            s["rss_restarted_median"] = median(s["rss_restarted"])
    finally:
        for k in KINDS:
            clusters[k].stop()
    return res


def defrag_workloads(keys):
    """The defragment scenario's load (run twice: load, then overwrite every
    key) and its paced writer and reader, one run of each."""
    per_run = 100 * DEFRAG_LANE_SECS
    load = Workload(
        "defrag-load",
        f"load {keys} keys of 1 KiB",
        ["put"],
        [f"--total={keys}", "--clients=1000", "--conns=100", "--key-size=8", "--val-size=1024", f"--key-space-size={keys}", "--sequential-keys"],
    )
    writer = Workload(
        "defrag-writer",
        "writer, 100 puts/s",
        ["put"],
        [f"--total={per_run}", "--rate=100", "--clients=1", "--conns=1", "--key-size=8", "--val-size=1024", f"--key-space-size={keys}"],
    )
    reader = Workload(
        "defrag-reader",
        "reader, 100 linearizable ranges/s",
        ["range", "foo"],
        [f"--total={per_run}", "--rate=100", "--consistency=l", "--clients=1", "--conns=1"],
    )
    return load, writer, reader


def paced_until(w, cluster, tag, stop, runs):
    """Runs `w` against `cluster` back to back until `stop` is set, appending
    each run's (start, end, result) to `runs` (monotonic seconds)."""
    while not stop.is_set():
        t0 = time.monotonic()
        r = run_workload(w, cluster, f"{tag}-{len(runs) + 1}")
        runs.append((t0, time.monotonic(), r))
        if "error" in r:
            time.sleep(0.1)  # a server that refuses at once: do not spin


def lane_figures(runs, t0, t1, per_run):
    """A paced lane's figures over its runs that overlapped the defrag
    [t0, t1]: a run that failed as a whole counts all its requests failed."""
    during = [(a, b, r) for a, b, r in runs if a < t1 and b > t0]
    ok = [r for _, _, r in during if "error" not in r]
    errors = {}
    for r in ok:
        for e, n in r.get("errors", {}).items():
            errors[e] = errors.get(e, 0) + n
    for _, _, r in during:
        if "error" in r:
            errors[r["error"]] = errors.get(r["error"], 0) + per_run
    return {
        "runs": len(during),
        # The time the lane's counted runs cover, the defrag and a little
        # either side of it.
        "window_secs": (max(b for _, b, _ in during) - min(a for a, _, _ in during)) if during else None,
        "requests": sum(r.get("ops") or 0 for r in ok),
        "failures": sum(r.get("failures", 0) for r in ok) + per_run * (len(during) - len(ok)),
        "max_latency": max((r["max"] for r in ok if r.get("max")), default=None),
        "p99": max((r["p99"] for r in ok if r.get("p99")), default=None),
        "errors": errors,
    }


def defrag_one(cluster, keys, load, writer, reader):
    """The defragment scenario on one fresh single member; its figures."""
    k = cluster.kind
    s = {}
    cluster.start()
    url = cluster.members[0].client_url
    if etcdctl(url, "put", "foo", VALUE_256) is None:
        raise Fatal("could not put the reader's key")
    # Load every key, then overwrite each once: after compaction half of
    # the store is old revisions, which is what a defrag gives back.
    for what in ("load", "overwrite"):
        r = run_workload(load, cluster, f"defrag-{what}-{k}")
        if "error" in r:
            raise Fatal(f"{what} of {keys} keys failed: {r['error']}")
        s[f"{what}_rate"], s[f"{what}_failures"] = r["rate"], r["failures"]
        log(f"{k}: defrag {what}: {keys} keys at {fmt_rate(r['rate'])}/s, failures {r['failures']}")
    out = etcdctl(url, "get", "foo", "-w", "json")
    try:
        rev = int(json.loads(out)["header"]["revision"])
    except (TypeError, ValueError, KeyError):
        raise Fatal(f"no revision from etcdctl get -w json: {out!r}")
    s["compact_revision"] = rev
    s["data_loaded"] = cluster.data_size()
    # --physical: wait until the old revisions are gone from the store, so
    # the defrag has them to give back (and does not race the compaction).
    t0 = time.monotonic()
    ok, out = etcdctl_run(url, "compaction", "--physical", str(rev), timeout=DEFRAG_TIMEOUT)
    s["compact_secs"] = time.monotonic() - t0
    if not ok:
        raise Fatal(f"etcdctl compaction --physical {rev} failed: {out}")
    s["data_before"] = cluster.data_size()
    s["rss_before"] = (cluster.rss() or (None,))[0]
    lanes = {"puts": writer, "reads": reader}
    runs = {name: [] for name in lanes}
    stop = threading.Event()
    threads = [
        threading.Thread(target=paced_until, args=(w, cluster, f"defrag-{name}-{k}", stop, runs[name]), daemon=True)
        for name, w in lanes.items()
    ]
    for t in threads:
        t.start()
    try:
        # One whole run of each lane before the defrag, for the latencies
        # the same load sees without one; then the defrag starts in the
        # middle of each lane's second run.
        deadline = time.monotonic() + DEFRAG_LANE_SECS * 5 + 30
        while any(not r for r in runs.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        t0 = time.monotonic()
        ok, out = etcdctl_run(url, "defrag", timeout=DEFRAG_TIMEOUT)
        t1 = time.monotonic()
        s["data_after"] = cluster.data_size()
        s["rss_after"] = (cluster.rss() or (None,))[0]
    finally:
        stop.set()
        for t in threads:
            t.join()
    s["defrag_secs"] = t1 - t0
    if not ok:
        s["defrag_error"] = out
    for name in lanes:
        s[name] = lane_figures(runs[name], t0, t1, 100 * DEFRAG_LANE_SECS)
        s[name + "_baseline"] = lane_figures([run for run in runs[name] if run[1] <= t0], float("-inf"), t0, 100 * DEFRAG_LANE_SECS)
    log(
        f"{k}: defrag {'done' if ok else 'FAILED (' + out + ')'} in {s['defrag_secs']:.2f} s; data dir "
        f"{fmt_bytes(s['data_before'])} -> {fmt_bytes(s['data_after'])}; failed puts {s['puts']['failures']}, reads "
        f"{s['reads']['failures']}; largest put {fmt_ms(s['puts']['max_latency'])}, read {fmt_ms(s['reads']['max_latency'])}"
    )
    return s


def run_defrag(run_dir):
    """Defragment: a fresh single member of each server, one after the
    other. A server that fails it gets its figures marked failed; the other
    is still measured."""
    keys = scaled(300_000, 3000)
    log(f"=== defragment with {keys} keys of 1 KiB, overwritten once")
    root = run_dir / "defrag"
    root.mkdir(parents=True, exist_ok=True)
    load, writer, reader = defrag_workloads(keys)
    res = {
        "keys": keys,
        "lane_secs": DEFRAG_LANE_SECS,
        "servers": {},
        "commands": {
            name: " ".join(shlex.quote(a) for a in w.command("$ENDPOINTS", 1)).replace(str(REPO) + "/", "")
            for name, w in (("load", load), ("writer", writer), ("reader", reader))
        },
    }
    for k in KINDS:
        cluster = Cluster(k, 1, root, variant="defrag")
        try:
            res["servers"][k] = defrag_one(cluster, keys, load, writer, reader)
        except Fatal as e:
            why = str(e).splitlines()[0]
            log(f"{k}: defragment scenario failed: {why}")
            print(f"\n!!! {e}\n", file=sys.stderr, flush=True)
            res["servers"][k] = {"error": f"{why} (log: {cluster.members[0].log_path})"}
        finally:
            cluster.stop()
    return res


# ---------------------------------------------------------------- report


def fmt_rate(v):
    if v is None:
        return "—"
    return f"{v:,.0f}"


def fmt_ms(v):
    if v is None:
        return "—"
    ms = v * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 100 else f"{ms:,.0f} ms"


def fmt_secs(v):
    return "—" if v is None else f"{v:.2f} s"


def fmt_bytes(v):
    if v is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if v < 1024 or unit == "GiB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024


def fmt_cpu(v):
    """CPU seconds, to 3 significant digits: per 100k watch events they are
    hundredths, per 100k puts whole seconds."""
    if v is None:
        return "—"
    return f"{v:,.0f} s" if v >= 1000 else f"{v:.3g} s"


def fmt_mark(ok):
    """The mark of an absolute goal (no failures, no stall), on a figure."""
    return "" if ok is None else " ✅" if ok else " ❌"


def fmt_ratio(v, goal=None):
    if v is None:
        return "—"
    text = f"{v:.2f}×"
    if goal is not None:
        text += " ✅" if v >= goal else " ❌"
    return text


def fmt_goal(goal):
    return f"≥ {goal:.3g}×" if goal else ""


def fmt_goals(goals):
    """A row's goal column: each goal as the ratio it marks."""
    parts = []
    if goals.get("rate"):
        parts.append(f"ops/s {fmt_goal(goals['rate'])}")
    if goals.get("p99"):
        parts.append(f"p99 {fmt_goal(goals['p99'])}")
    if goals.get("cpu"):
        parts.append(f"CPU {fmt_goal(goals['cpu'])} (≤ {1 / goals['cpu']:.2g}× etcd's)")
    return ", ".join(parts)


def workload_table(scn):
    lines = [
        "| workload | etcd-rs ops/s | etcd ops/s | ratio | etcd-rs p50 | etcd p50 | ratio | etcd-rs p99 | etcd p99 | ratio "
        "| etcd-rs CPU s/100k | etcd CPU s/100k | ratio | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for w in scn["workloads"]:
        o, e = w["median"][OURS], w["median"][ETCD]
        paced = w["kind"] == "paced"
        tput = None if paced else ratio(o["rate"], e["rate"])
        # Summaries written before the CPU figures or the goals existed lack them.
        goals = w.get("goals") or {"rate": w.get("goal")}
        cells = [
            w["label"],
            "(paced)" if paced else fmt_rate(o["rate"]),
            "(paced)" if paced else fmt_rate(e["rate"]),
            fmt_ratio(tput, goals.get("rate")),
            fmt_ms(o["p50"]),
            fmt_ms(e["p50"]),
            fmt_ratio(ratio(o["p50"], e["p50"], higher_is_better=False)),
            fmt_ms(o["p99"]),
            fmt_ms(e["p99"]),
            fmt_ratio(ratio(o["p99"], e["p99"], higher_is_better=False), goals.get("p99")),
            fmt_cpu(o.get("cpu_per_100k")),
            fmt_cpu(e.get("cpu_per_100k")),
            fmt_ratio(ratio(o.get("cpu_per_100k"), e.get("cpu_per_100k"), higher_is_better=False), goals.get("cpu")),
            fmt_goals(goals),
        ]
        lines.append("| " + " | ".join(cells) + " |")
        for k in KINDS:
            m = w["median"][k]
            for err, n in {e: m["errors"].count(e) for e in m["errors"]}.items():
                runs = f" ({n} runs)" if n > 1 else ""
                notes.append(f"- **{w['label']}**, {k}: run failed{runs}: {err}")
            if m["failures"]:
                top = ", ".join(f"`{e}` ×{n}" for e, n in sorted(m["request_errors"].items(), key=lambda x: -x[1])[:3])
                notes.append(f"- **{w['label']}**, {k}: {m['failures']} failed requests over {REPEATS} runs ({top})")
    return lines, notes


def variant_cost_table(scn, variant):
    """What a variant (TLS, auth) costs each server: its row against its
    own plain-text row, for the rows measured both ways."""
    by_id = {w["id"]: w for w in scn["workloads"]}
    pairs = [(by_id[w["variant_of"]], w) for w in scn["workloads"] if w.get("variant") == variant.name and w.get("variant_of") in by_id]
    if not pairs:
        return []
    lines = [
        variant.cost_title,
        "",
        "| workload | etcd-rs ops/s | etcd ops/s | etcd-rs p99 | etcd p99 |",
        "|---|---:|---:|---:|---:|",
    ]
    for plain, other in pairs:
        cells = [plain["label"]]
        for key in ("rate", "p99"):
            for k in KINDS:
                cells.append(fmt_ratio(ratio(other["median"][k][key], plain["median"][k][key])))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def resources_table(scn):
    r = scn["resources"]
    rows = [
        ("RSS idle, after start", "rss_idle", None),
        ("RSS steady during put, 1000 clients (median of samples)", "rss_steady", None),
        ("RSS peak (VmHWM) after put, 1000 clients", "rss_peak", 1.0),
        ("RSS at the end of the scenario", "rss_end", None),
        ("data dir after put, 1000 clients", "data_after_put", 1.0),
        ("data dir at the end of the scenario", "data_end", None),
    ]
    lines = [
        "| resource (largest member) | etcd-rs | etcd | etcd / etcd-rs | goal |",
        "|---|---:|---:|---:|---|",
    ]
    for label, key, goal in rows:
        o, e = r[OURS].get(key), r[ETCD].get(key)
        if o is None and e is None:
            continue
        lines.append(
            f"| {label} | {fmt_bytes(o)} | {fmt_bytes(e)} | {fmt_ratio(ratio(o, e, False), goal)} | {fmt_goal(goal)} |"
        )
    return lines


def restart_table(rs):
    o, e = rs["servers"][OURS], rs["servers"][ETCD]
    rows = [
        ("load throughput (puts/s, 1000 clients)", fmt_rate(o.get("load_rate")), fmt_rate(e.get("load_rate")), fmt_ratio(ratio(o.get("load_rate"), e.get("load_rate"))), ""),
        ("RSS after loading", fmt_bytes(o.get("rss_loaded")), fmt_bytes(e.get("rss_loaded")), fmt_ratio(ratio(o.get("rss_loaded"), e.get("rss_loaded"), False)), ""),
        ("data dir after loading", fmt_bytes(o.get("data_loaded")), fmt_bytes(e.get("data_loaded")), fmt_ratio(ratio(o.get("data_loaded"), e.get("data_loaded"), False)), ""),
        ("stop (SIGTERM → exit)", fmt_secs(o.get("stop_secs")), fmt_secs(e.get("stop_secs")), fmt_ratio(ratio(o.get("stop_secs"), e.get("stop_secs"), False)), ""),
        (
            "**restart: exec → first linearizable get** (median)",
            fmt_secs(o.get("restart_median")),
            fmt_secs(e.get("restart_median")),
            fmt_ratio(ratio(o.get("restart_median"), e.get("restart_median"), False)),
            "",
        ),
        ("RSS right after restart", fmt_bytes(o.get("rss_restarted_median")), fmt_bytes(e.get("rss_restarted_median")), fmt_ratio(ratio(o.get("rss_restarted_median"), e.get("rss_restarted_median"), False)), ""),
    ]
    lines = ["| | etcd-rs | etcd | ratio (higher = etcd-rs better) | goal |", "|---|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def defrag_table(df):
    """The defragment scenario's table; a server that failed it shows —."""
    o, e = df["servers"].get(OURS, {}), df["servers"].get(ETCD, {})
    lane = lambda s, name, key: (s.get(name) or {}).get(key)

    def count_cell(s, name, goal):
        v = lane(s, name, "failures")
        return "—" if v is None else f"{v:,}" + (fmt_mark(v == 0) if goal else "")

    def stall_cell(s, name, goal):
        v = lane(s, name, "max_latency")
        return fmt_ms(v) + (fmt_mark(v <= STALL_GOAL) if goal and v is not None else "")

    def lower_ratio(key, goal=None):
        """etcd/etcd-rs of a figure where less is better (time, bytes)."""
        return fmt_ratio(ratio(o.get(key), e.get(key), False), goal)

    rows = [
        ("load throughput (puts/s, 1000 clients)", fmt_rate(o.get("load_rate")), fmt_rate(e.get("load_rate")), fmt_ratio(ratio(o.get("load_rate"), e.get("load_rate"))), ""),
        ("overwrite throughput (puts/s, 1000 clients)", fmt_rate(o.get("overwrite_rate")), fmt_rate(e.get("overwrite_rate")), fmt_ratio(ratio(o.get("overwrite_rate"), e.get("overwrite_rate"))), ""),
        ("data dir after the overwrite", fmt_bytes(o.get("data_loaded")), fmt_bytes(e.get("data_loaded")), lower_ratio("data_loaded"), ""),
        ("compaction (`etcdctl compaction --physical`)", fmt_secs(o.get("compact_secs")), fmt_secs(e.get("compact_secs")), lower_ratio("compact_secs"), ""),
        ("data dir before defrag (compacted)", fmt_bytes(o.get("data_before")), fmt_bytes(e.get("data_before")), lower_ratio("data_before"), ""),
        ("**defrag time** (`etcdctl defrag`)", fmt_secs(o.get("defrag_secs")), fmt_secs(e.get("defrag_secs")), lower_ratio("defrag_secs", 1.0), f"{fmt_goal(1.0)} (≤ etcd's)"),
        ("data dir after defrag", fmt_bytes(o.get("data_after")), fmt_bytes(e.get("data_after")), lower_ratio("data_after"), ""),
        ("failed puts during defrag", count_cell(o, "puts", True), count_cell(e, "puts", False), "—", "none"),
        ("failed reads during defrag", count_cell(o, "reads", True), count_cell(e, "reads", False), "—", "none"),
        ("largest put latency during defrag (stall)", stall_cell(o, "puts", True), stall_cell(e, "puts", False),
         fmt_ratio(ratio(lane(o, "puts", "max_latency"), lane(e, "puts", "max_latency"), False)), f"≤ {STALL_GOAL * 1000:.0f} ms"),
        ("largest read latency during defrag (stall)", stall_cell(o, "reads", True), stall_cell(e, "reads", False),
         fmt_ratio(ratio(lane(o, "reads", "max_latency"), lane(e, "reads", "max_latency"), False)), f"≤ {STALL_GOAL * 1000:.0f} ms"),
        ("largest put, read latency before defrag (same load, for reference)",
         f"{fmt_ms(lane(o, 'puts_baseline', 'max_latency'))}, {fmt_ms(lane(o, 'reads_baseline', 'max_latency'))}",
         f"{fmt_ms(lane(e, 'puts_baseline', 'max_latency'))}, {fmt_ms(lane(e, 'reads_baseline', 'max_latency'))}", "", ""),
        ("puts, reads completed during defrag", f"{fmt_rate(lane(o, 'puts', 'requests'))}, {fmt_rate(lane(o, 'reads', 'requests'))}",
         f"{fmt_rate(lane(e, 'puts', 'requests'))}, {fmt_rate(lane(e, 'reads', 'requests'))}", "", ""),
    ]
    lines = ["| | etcd-rs | etcd | ratio (higher = etcd-rs better) | goal |", "|---|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    notes = []
    for k in KINDS:
        srv = df["servers"].get(k, {})
        if srv.get("error"):
            notes.append(f"- {k}: not measured: {srv['error']}")
        if srv.get("defrag_error"):
            notes.append(f"- {k}: `etcdctl defrag` failed: {srv['defrag_error']}")
        for name in ("puts", "reads"):
            errs = (srv.get(name) or {}).get("errors") or {}
            if errs:
                top = ", ".join(f"`{x}` ×{n}" for x, n in sorted(errs.items(), key=lambda x: -x[1])[:3])
                notes.append(f"- {k}: failed {name} during defrag: {top}")
    return lines, notes


def chart(summary, path):
    """Horizontal bars of the ratios, one panel per scenario plus resources."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        log("matplotlib is not available: no chart")
        return False
    panels = []
    for scn in summary["scenarios"]:
        rows = []
        for w in scn["workloads"]:
            o, e = w["median"][OURS], w["median"][ETCD]
            tput = None if w["kind"] == "paced" else ratio(o["rate"], e["rate"])
            cpu = ratio(o.get("cpu_per_100k"), e.get("cpu_per_100k"), False)
            goals = w.get("goals") or {"rate": w.get("goal")}
            rows.append((w["label"], tput, ratio(o["p99"], e["p99"], False), cpu, goals.get("rate"), goals.get("cpu")))
        r = scn["resources"]
        rows.append(("RSS peak, put 1000 clients", ratio(r[OURS].get("rss_peak"), r[ETCD].get("rss_peak"), False), None, None, 1.0, None))
        rows.append(("data dir after put, 1000 clients", ratio(r[OURS].get("data_after_put"), r[ETCD].get("data_after_put"), False), None, None, 1.0, None))
        panels.append((f"{scn['size']} member{'s' if scn['size'] > 1 else ''}", rows))
    if summary.get("restart"):
        rs = summary["restart"]["servers"]
        k = summary["restart"]["keys"]
        panels.append(
            (
                f"restart with {k:,} keys",
                [
                    ("restart time", ratio(rs[OURS].get("restart_median"), rs[ETCD].get("restart_median"), False), None, None, None, None),
                    ("RSS after load", ratio(rs[OURS].get("rss_loaded"), rs[ETCD].get("rss_loaded"), False), None, None, None, None),
                    ("data dir after load", ratio(rs[OURS].get("data_loaded"), rs[ETCD].get("data_loaded"), False), None, None, None, None),
                ],
            )
        )
    if summary.get("defrag"):
        df = summary["defrag"]
        o, e = df["servers"].get(OURS, {}), df["servers"].get(ETCD, {})
        stall = lambda s, name: (s.get(name) or {}).get("max_latency")
        panels.append(
            (
                f"defragment, {df['keys']:,} keys of 1 KiB",
                [
                    ("defrag time", ratio(o.get("defrag_secs"), e.get("defrag_secs"), False), None, None, 1.0, None),
                    ("data dir after defrag", ratio(o.get("data_after"), e.get("data_after"), False), None, None, None, None),
                    ("largest put latency", ratio(stall(o, "puts"), stall(e, "puts"), False), None, None, None, None),
                    ("largest read latency", ratio(stall(o, "reads"), stall(e, "reads"), False), None, None, None, None),
                ],
            )
        )
    heights = [max(2.0, 0.55 * len(rows) + 1.0) for _, rows in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, sum(heights)), gridspec_kw={"height_ratios": heights})
    if len(panels) == 1:
        axes = [axes]
    values = [v for _, rows in panels for row in rows for v in row[1:4] if v]
    lo, hi = min(values + [0.5]) / 1.5, max(values + [4.0]) * 1.5
    for ax, (title, rows) in zip(axes, panels):
        ys = list(range(len(rows)))[::-1]
        h = 0.27
        for y, (label, main, lat, cpu, goal, cpu_goal) in zip(ys, rows):
            if main:
                ax.barh(y + h, main, h, color="#2b7bba", label="throughput / resource")
                ax.text(main * 1.03, y + h, f"{main:.2f}×", va="center", fontsize=7)
            if lat:
                ax.barh(y, lat, h, color="#f0a030", label="p99 latency")
                ax.text(lat * 1.03, y, f"{lat:.2f}×", va="center", fontsize=7)
            if cpu:
                ax.barh(y - h, cpu, h, color="#5a9e4b", label="server CPU per op")
                ax.text(cpu * 1.03, y - h, f"{cpu:.2f}×", va="center", fontsize=7)
            if goal:
                ax.plot([goal, goal], [y - 0.45, y + 0.45], color="#c0392b", lw=2, label="goal")
            if cpu_goal:
                ax.plot([cpu_goal, cpu_goal], [y - 1.5 * h, y - 0.5 * h], color="#1e5a14", lw=2, label="CPU goal")
        ax.set_yticks(ys)
        ax.set_yticklabels([row[0] for row in rows], fontsize=9)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ticks = [t for t in (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64) if lo <= t <= hi]
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{t:g}×" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.axvline(1.0, color="black", lw=1)
        ax.set_title(title, fontsize=11, loc="left")
        ax.grid(axis="x", which="both", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        ax.legend(uniq.values(), uniq.keys(), fontsize=8, loc="lower right")
    axes[-1].set_xlabel("etcd-rs advantage (×, log scale; > 1 = etcd-rs better; latency, CPU and resources inverted)")
    smoke = f" — SMOKE RUN (BENCH_SCALE={SCALE:g}), not representative" if SCALE < 1 else ""
    fig.suptitle(f"etcd-rs vs etcd 3.4.23, same machine{smoke}", fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(summary, chart_ok):
    m = summary["machine"]
    lines = ["# Benchmarks: etcd-rs vs etcd 3.4.23", ""]
    if SCALE < 1:
        lines += [
            f"> **⚠️ Smoke run, not representative.** `BENCH_SCALE={SCALE:g}`: every request total and the",
            "> key count of the restart test is scaled down, so runs last well under a second and the figures",
            "> are dominated by start-up and noise. It only shows that the script works; regenerate with",
            "> `bench/compare.sh` (full size) on a quiet machine.",
            "",
        ]
    lines += [
        f"Generated {summary['date']} by `{summary['command']}` in {summary['wall_minutes']:.1f} minutes.",
        "",
        "Both servers run on this machine on loopback, started the same way (fresh data dirs on the same disk,",
        "their default durability: every acknowledged write is fsynced; `--logger=zap --log-level=error`), driven by",
        "the same `etcd-benchmark` client, which shares the CPU with them. Workloads alternate etcd-rs, etcd,",
        f"etcd-rs, etcd… so drift in the machine hits both; each figure is the median of {REPEATS} runs.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu_model']} |",
        f"| cores | {m['cores']} ({m['cores_usable']} usable by the benchmark) |",
        f"| memory | {m['memory_gib']:.1f} GiB |",
        f"| OS, kernel | {m['os']}, Linux {m['kernel']} |",
        f"| data dirs | {m['filesystem']} |",
        f"| disk: 2300-byte append + fdatasync | {m['fsync_start']['ops_per_sec']:,.0f}/s (mean {m['fsync_start']['mean_ms']:.2f} ms, p99 {m['fsync_start']['p99_ms']:.2f} ms) before the run; "
        + (f"{m['fsync_end']['ops_per_sec']:,.0f}/s after |" if m.get("fsync_end") else "|"),
        f"| load average at start | {' '.join(m['loadavg_start'])} |",
        f"| etcd | {m['etcd_version']} (`/usr/bin/etcd`, Debian's etcd-server package) |",
        f"| etcd-rs | {m['ours_version']} (`target/release/etcd`), commit {m['git']} |",
        f"| benchmark client | {m['benchmark_version']} |",
        "",
        "## How to read the tables",
        "",
        "- **ratio** is always oriented so that **> 1 means etcd-rs is better**: etcd-rs/etcd for throughput,",
        "  etcd/etcd-rs for latency, CPU, memory, disk and time.",
        "- ✅/❌ mark the goals of issue 15, on the ratio they concern: put throughput ≥ 1.5× etcd's with 100 and",
        "  1000 clients and ≥ 1× with 1 client, single member and 3 members; p99 with 1 client no worse than etcd's",
        "  (ratio ≥ 1); server CPU per put ≤ 0.6× etcd's (ratio etcd/etcd-rs ≥ 1.67) with 1, 100 and 1000 clients;",
        "  peak RSS (VmHWM) and data dir after the 1000-client put no more than etcd's (ratio ≥ 1); and the",
        "  defragment scenario's goals (its section). Rows without a goal are measured for comparison only.",
        "- ops/s is requests per second; for the watch fan-out rows it is events delivered per second (first put →",
        "  last event) and the latencies are from put sent to event received. The watch-latency row is paced at",
        "  100 puts/s, so only its latencies compare.",
        "- **CPU s/100k** is the server's own CPU time (user + system, every thread, from `/proc/<pid>/stat`, summed",
        "  over all members of the cluster), read just before and just after each run, per 100,000 successful",
        "  requests; for the watch fan-out and watch-latency rows per 100,000 delivered events. It includes the",
        "  run's connection set-up and the servers' idle work meanwhile (ticks, heartbeats), not the benchmark",
        "  client's CPU. It is counted in clock ticks of"
        f" {1000 / CLK_TCK:g} ms,",
        "  so short (smoke) runs are coarse.",
        "- With 3 members, writes, linearizable reads, watches and leases go to the leader (`--target-leader`);",
        "  serializable reads and the \"all members\" put spread connections over every member.",
        "- data dir sizes are disk usage (`du`), which includes etcd's preallocated 64 MiB WAL segments.",
        "- Rows ending in \"TLS\" run on a fresh single member of each server whose client URL is https://, both",
        "  serving the same certificate (EC P-256, signed by a CA that openssl makes for the run; `--cert-file`,",
        "  `--key-file`), verified by `etcd-benchmark --cacert`; no client certificates, peers in plain text.",
        "  They are otherwise their plain-text row (same totals, clients, connections).",
        "- Rows ending in \"auth (root)\" run on a fresh single member of each server with auth on (`etcdctl user add",
        "  root`, `user grant-role root root`, `auth enable`; simple tokens, the default of both), driven by",
        "  `etcd-benchmark --user=root:…`, which authenticates once and sends the token with every request; rows ending",
        "  in \"auth (user bench)\" the same as user `bench`, whose one role grants readwrite on every key (`role",
        "  grant-permission --from-key bench readwrite ''`: the put workload's keys are zero-padded binary varints with no",
        "  common prefix), so its requests take the per-key permission check that both servers skip for root. They are",
        "  otherwise their plain-text row.",
        "- Rows ending in \"gateway\" send the same put and linearizable range as JSON to the server's gRPC gateway",
        "  (`POST /v3/kv/put`, `/v3/kv/range`, `etcd-benchmark --gateway`), over HTTP/1.1 keep-alive connections, one per",
        "  client; single member only.",
        "- `—`: not measured, or too few samples for that percentile (small runs have no p99).",
        "",
    ]
    for scn in summary["scenarios"]:
        title = "Single member" if scn["size"] == 1 else f"{scn['size']} members"
        table, notes = workload_table(scn)
        lines += [f"## {title}", "", *table, ""]
        for variant in VARIANTS:
            cost = variant_cost_table(scn, variant)
            if cost:
                lines += [*cost, ""]
        lines += [*resources_table(scn), ""]
        if notes:
            lines += ["Failures:", "", *notes, ""]
    if summary.get("restart"):
        rs = summary["restart"]
        lines += [
            f"## Restart with {rs['keys']:,} keys (single member)",
            "",
            f"{rs['keys']:,} keys of 8 bytes with 256-byte values loaded by `etcd-benchmark put` (1000 clients), the server",
            "stopped with SIGTERM, then timed from exec to the first successful linearizable `etcdctl get`"
            f" (median of {REPEATS}; each figure includes one etcdctl run, which costs {fmt_secs(rs.get('probe_secs'))} against a ready server).",
            "",
            *restart_table(rs),
            "",
        ]
    if summary.get("defrag"):
        df = summary["defrag"]
        table, notes = defrag_table(df)
        lines += [
            "## Defragment (single member)",
            "",
            f"A fresh single member of each: {df['keys']:,} keys of 8 bytes with 1 KiB values loaded by `etcd-benchmark put`",
            "(1000 clients, sequential keys), every key overwritten once the same way, the history compacted at the",
            "current revision (`etcdctl compaction --physical`), then `etcdctl defrag` timed from exec to exit while a",
            "writer (100 puts/s of 1 KiB values over the same keys) and a reader (100 linearizable ranges/s) run against",
            f"the same member, each as back-to-back `etcd-benchmark --rate=100` runs of {df['lane_secs']} s. The figures",
            f"\"during defrag\" are those of the runs that overlapped it, so they cover up to {df['lane_secs']} s either side",
            "of it too; \"before defrag\" is each lane's first run, which ended before the defrag started. One run of",
            "each server. Goals for etcd-rs: defrag time ≤ etcd's, no failed request, no request slower than 100 ms",
            "(✅/❌ on etcd-rs's figure where the goal is absolute).",
            "",
            *table,
            "",
        ]
        if notes:
            lines += ["Failures:", "", *notes, ""]
    notes = REPO / "bench" / "notes.md"
    if notes.exists():
        # Hand-written findings (profiles, where the time goes) survive regeneration.
        lines += ["## Notes", "", notes.read_text().strip(), ""]
    if chart_ok:
        lines += ["## Chart", "", f"![etcd-rs / etcd ratios]({os.path.relpath(RESULTS / 'ratios.png', OUT.parent)})", ""]
    lines += [
        "## Workloads",
        "",
        "Each row of the tables is this `etcd-benchmark` command, run against each server in turn",
        f"(`$ENDPOINTS` is the cluster's client URLs, `$CACERT` the run's CA certificate), with BENCH_SCALE={SCALE:g}.",
        "",
    ]
    for scn in summary["scenarios"]:
        lines += [f"{'Single member' if scn['size'] == 1 else str(scn['size']) + ' members'}:", ""]
        lines += [f"- {w['label']}: `{w['command']}`" for w in scn["workloads"]]
        lines.append("")
    if summary.get("restart"):
        lines += ["Restart:", "", f"- load: `{summary['restart']['load_command']}`", ""]
    if summary.get("defrag"):
        c = summary["defrag"]["commands"]
        lines += [
            "Defragment:",
            "",
            f"- load, then overwrite (the same command again): `{c['load']}`",
            "- compaction: `etcdctl compaction --physical $REVISION` (the revision of a `get` after the overwrite)",
            "- defrag: `etcdctl defrag`, with, meanwhile, back to back:",
            f"  - writer: `{c['writer']}`",
            f"  - reader: `{c['reader']}`",
            "",
        ]
    lines += [
        "## How to reproduce",
        "",
        "On Debian (bookworm or later) with a Rust toolchain, from a fresh checkout:",
        "",
        "```sh",
        "bench/compare.sh                     # full run: ~10-15 minutes on 2 cores, plus the build",
        "BENCH_SCALE=0.02 bench/compare.sh    # smoke run: ~1 minute plus the build; figures not representative",
        "```",
        "",
        "`bench/compare.sh` installs `etcd-server`, `etcd-client`, `openssl` and `python3-venv` with apt if missing (with sudo",
        "when not root), builds `etcd` and `etcd-benchmark` with `cargo build --release`, puts matplotlib in a venv",
        "under `target/bench-venv`, and runs `bench/compare.py`, which starts and stops every server itself and",
        "rewrites this file, `bench/results/summary.json` (every run's figures) and `bench/results/ratios.png`.",
        "Raw `etcd-benchmark --json` output and the server logs of the last run stay in `bench/results/raw/` and",
        "`target/bench/` (not committed). Other knobs: `BENCH_REPEATS` (default 2), `BENCH_SCENARIOS=1` (single",
        "member only), `BENCH_ONLY=put-1000,range-l-1000,put-1000-tls` (some workloads), `BENCH_TLS=0` (no TLS rows),",
        "`BENCH_AUTH=0` (no auth rows), `BENCH_RESTART=0`, `BENCH_DEFRAG=0` (no defragment scenario), `BENCH_KEEP=1`",
        "(keep data dirs). Run it on an otherwise idle machine: the benchmark client shares the cores with the servers.",
        "",
    ]
    OUT.write_text("\n".join(lines))


# ---------------------------------------------------------------- main


def remove_stale_data(bench_root):
    """Deletes the data dirs an earlier run left behind (killed with SIGKILL,
    or BENCH_KEEP=1), unless that run is still going."""
    for pid_file in bench_root.glob("*/pid"):
        try:
            os.kill(int(pid_file.read_text()), 0)
            continue  # still running
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        for d in pid_file.parent.glob("*/*.data"):
            shutil.rmtree(d, ignore_errors=True)


def main():
    for binary in (OURS_BIN, ETCD_BIN, BENCH_BIN):
        if not os.access(binary, os.X_OK):
            raise Fatal(f"{binary} is missing: run bench/compare.sh, which installs and builds it")
    if not shutil.which(ETCDCTL):
        raise Fatal("etcdctl is missing: apt-get install etcd-client")
    started = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = REPO / "target" / "bench" / stamp
    remove_stale_data(run_dir.parent)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "pid").write_text(str(os.getpid()))
    raw_dir = RESULTS / "raw"
    shutil.rmtree(raw_dir, ignore_errors=True)
    raw_dir.mkdir(parents=True, exist_ok=True)
    env_cmd = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_") and k != "BENCH_OUT")
    command = " ".join(x for x in (env_cmd, "bench/compare.sh") if x)
    log(f"run dir {run_dir}; BENCH_SCALE={SCALE:g}, BENCH_REPEATS={REPEATS}, scenarios {SCENARIOS}")
    info = machine(run_dir)
    info["fsync_start"] = fdatasync_rate(run_dir)
    log(f"machine: {info['cpu_model']}, {info['cores']} cores; fdatasync {info['fsync_start']['ops_per_sec']:,.0f}/s")
    summary = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "scale": SCALE,
        "repeats": REPEATS,
        "machine": info,
        "scenarios": [],
        "restart": None,
        "defrag": None,
    }
    try:
        for size in SCENARIOS:
            summary["scenarios"].append(run_scenario(size, run_dir))
        if DO_RESTART:
            summary["restart"] = run_restart(run_dir)
        if DO_DEFRAG:
            summary["defrag"] = run_defrag(run_dir)
    finally:
        kill_everything()
        if not KEEP:
            for d in run_dir.glob("*/*.data"):
                shutil.rmtree(d, ignore_errors=True)
    info["fsync_end"] = fdatasync_rate(run_dir)
    summary["wall_minutes"] = (time.monotonic() - started) / 60
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    chart_ok = chart(summary, RESULTS / "ratios.png")
    write_report(summary, chart_ok)
    log(f"wrote {OUT}, {RESULTS / 'summary.json'}" + (f", {RESULTS / 'ratios.png'}" if chart_ok else "") + f" in {summary['wall_minutes']:.1f} min")


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _on_signal)
    if sys.argv[1:]:
        print(__doc__, file=sys.stderr if sys.argv[1] not in ("-h", "--help") else sys.stdout)
        sys.exit(0 if sys.argv[1] in ("-h", "--help") else 2)
    try:
        main()
    except Fatal as e:
        print(f"\ncompare: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    except SystemExit as e:
        if isinstance(e.code, int) and e.code > 128:
            print(f"\ncompare: stopped by signal {e.code - 128}; every server it started is stopped", file=sys.stderr)
        raise
    finally:
        kill_everything()
