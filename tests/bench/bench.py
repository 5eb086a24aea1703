"""make bench: the tutorial done three ways against one local emulator (reset before every run),
cold start, conversion cost (criterion), peak memory and build cost. Writes BENCHMARKS.md and the
chart tests/bench/tutorial.png. Timing lives here, not in the tests."""

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scripts  # noqa: E402  (tests/bench/scripts.py, beside this file)
import editor  # noqa: E402  (tests/bench/editor.py, beside this file)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, ".venv")
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
RUNBOOK = os.path.join(TARGET, "release", "runbook")
FLOOR = os.path.join(TARGET, "release", "tutorial-floor")
FAULT_PROXY = os.path.join(TARGET, "release", "fault-proxy")

# The targets: (label, measured key, comparison, bound, unit).
TARGETS = [
    ("runbook within 1.3x of the floor", "runbook_over_floor", "<=", 1.3, "x"),
    ("aws CLI script at least 40x slower than runbook", "cli_over_runbook", ">=", 40.0, "x"),
    ("cold start (runbook run of an empty runbook)", "cold_run_ms", "<=", 30.0, "ms"),
    ("cold start (runbook --version)", "cold_version_ms", "<=", 30.0, "ms"),
    ("conversion per call, slowest of the six payloads", "conversion_max_us", "<=", 50.0, "µs"),
    ("peak memory of the tutorial run", "peak_mib", "<=", 40.0, "MiB"),
    ("runbook within 1.5x of the floor through AWS-like latency", "aws_like_runbook_over_floor", "<=", 1.5, "x"),
    ("16 regions at --concurrency 16 within 2x of one region, AWS-like mode", "sixteen_over_one", "<=", 2.0, "x"),
    ("the tutorial with its journal in S3 within 1.5x of a local folder, AWS-like latency", "store_over_local", "<=", 1.5, "x"),
    ("runbook check runbooks examples", "check_s", "<", 1.0, "s"),
    ("scripts under runbook within 1.5x of a plain Rhai engine, runbook's start aside, slowest workload", "scripts_worst_ratio", "<=", 1.5, "x"),
    ("runbook lsp: diagnostics of a 500-line runbook after an edit, median", "lsp_diagnostics_ms", "<=", 50.0, "ms"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


JOURNALS = tempfile.mkdtemp(prefix="runbook-bench-journals-")


class Emulator:
    def __init__(self):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.bucket = None
        self.proc = subprocess.Popen(
            [os.path.join(VENV, "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.configure()

    def configure(self):
        subprocess.run([os.path.join(VENV, "bin", "python"), os.path.join(ROOT, "tests/emulator/configure.py"), self.url], check=True)

    def reset(self):
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST"), timeout=10).read()
        self.configure()
        self.warm()
        if self.bucket:
            # A journal store's bucket, made again after every reset.
            import boto3  # moto's own dependency, in the same virtual environment

            s3 = boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
            s3.create_bucket(Bucket=self.bucket)

    def warm(self):
        """The emulator builds a region's EC2 backend (default VPC, subnets, groups) on the first EC2
        request after a reset: about 40 ms, and now and then 180 ms. That is the emulator's cost, not
        the client's, so it is paid here, before the clock starts, instead of by whichever variant
        happens to run next."""
        body = b"Action=DescribeVpcs&Version=2016-11-15"
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, "
            "SignedHeaders=host, Signature=0",
        }
        urllib.request.urlopen(urllib.request.Request(self.url + "/", data=body, headers=headers, method="POST"), timeout=10).read()

    def env(self):
        env = dict(os.environ)
        env.update(
            AWS_ENDPOINT_URL=self.url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE="/nonexistent/runbook-bench-config",
            AWS_SHARED_CREDENTIALS_FILE="/nonexistent/runbook-bench-credentials",
            PATH=os.path.join(VENV, "bin") + os.pathsep + os.environ.get("PATH", ""),
            PROPAGATION_WAIT="0",
            WITH_PREREQS="1",
            WITH_VERIFY="1",
        )
        env.pop("AWS_PROFILE", None)
        # runbook journals every run (part of what is measured); keep the journals out of the clone.
        env["RUNBOOK_JOURNAL_DIR"] = JOURNALS
        return env

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def timed(cmd, env):
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(cmd)}\n{done.stderr}")
    return elapsed, done.stderr


def calls_in(stderr, pattern):
    m = re.search(pattern, stderr)
    return int(m.group(1)) if m else None


def tutorial(emu, runs):
    variants = {
        "aws CLI script": (["bash", "tests/emulator/tutorial-cli.sh"], None),
        "runbook": ([RUNBOOK, "run", "runbooks/tutorial.rhai", "--set", "propagation_wait=0"], r"(\d+) AWS call"),
        "Rust SDK (floor)": ([FLOOR], r"floor: (\d+) AWS calls"),
    }
    times = {name: [] for name in variants}
    calls = {}
    env = emu.env()
    # One untimed run of each first: the release binary is ~100 MB, and its first runs after a build
    # read it from disk into the page cache.
    for name in variants:
        emu.reset()
        timed(variants[name][0], env)
    for i in range(runs):
        order = list(variants) if i % 2 == 0 else list(reversed(variants))
        for name in order:
            emu.reset()
            cmd, pattern = variants[name]
            t, err = timed(cmd, env)
            times[name].append(t)
            if pattern:
                calls[name] = calls_in(err, pattern)
        print(f"  round {i + 1}/{runs}: " + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in variants), flush=True)
    return times, calls


def under_faults(emu, seeds):
    """The runbook variant through the tests' fault mix (tests/proxy.rs): 20 % of the requests fail
    before they reach the emulator (throttling, 500, 503, a cut connection, a 300 ms delay) and 5 %
    of the answers are dropped after it did the work. Default retry settings; one run per seed."""
    times, faults, reconciled = [], [], {"found": 0, "resent": 0}
    for seed in range(1, seeds + 1):
        emu.reset()
        proxy = subprocess.Popen([FAULT_PROXY, emu.url, str(seed)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            url = proxy.stdout.readline().strip()
            env = dict(emu.env(), AWS_ENDPOINT_URL=url)
            t, err = timed([RUNBOOK, "run", "runbooks/tutorial.rhai", "--set", "propagation_wait=0"], env)
            times.append(t)
            reconciled["found"] += err.count("and it had done the write")
            reconciled["resent"] += err.count("nothing shows it was done; sending it again")
        finally:
            out, _ = proxy.communicate(timeout=30)
        faults.append(out.strip())
        print(f"  seed {seed}: {t:.3f}s ({faults[-1]})", flush=True)
    return times, faults, reconciled


SIXTEEN = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1",
           "eu-north-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ap-northeast-2", "ap-south-1",
           "sa-east-1", "ca-central-1"]


def through_aws_like(emu, mode, cmd, env=None):
    """One run of `cmd` through the AWS-like proxy (tests/aws_like.rs) in `mode`: its time, its
    stderr, and what the proxy counted (requests, throttled, lagged). `env` adds to the
    emulator's environment."""
    emu.reset()
    proxy = subprocess.Popen([FAULT_PROXY, emu.url, "aws-like", mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        url = proxy.stdout.readline().strip()
        t, err = timed(cmd, dict(emu.env(), AWS_ENDPOINT_URL=url, **(env or {})))
    finally:
        out, _ = proxy.communicate(timeout=30)
    m = re.search(r"(\d+) requests, (\d+) throttled, (\d+) lagged", out)
    counts = dict(zip(("requests", "throttled", "lagged"), map(int, m.groups()))) if m else {}
    return t, err, counts


def aws_like(emu, runs):
    """The tutorial with AWS's latency (20–60 ms an answer): the three variants, alternating, and
    the requests each made. Then runbook alone with the 4 s lag after creates added, and with the
    whole mode (lag, provisioning, throttling), for the cost of the waits and retries."""
    variants = {
        "aws CLI script": ["bash", "tests/emulator/tutorial-cli.sh"],
        "runbook": [RUNBOOK, "run", "runbooks/tutorial.rhai", "--set", "propagation_wait=0"],
        "Rust SDK (floor)": [FLOOR],
    }
    times = {name: [] for name in variants}
    requests = {}
    for i in range(runs):
        order = list(variants) if i % 2 == 0 else list(reversed(variants))
        for name in order:
            t, _, counts = through_aws_like(emu, "latency", variants[name])
            times[name].append(t)
            requests[name] = counts.get("requests")
        print(f"  latency, round {i + 1}/{runs}: " + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in variants), flush=True)
    modes = {}
    for mode in ("lag", "full"):
        samples = []
        for _ in range(max(1, runs // 2)):
            t, err, counts = through_aws_like(emu, mode, variants["runbook"])
            counts.update(time=t, retries=err.count("[retry]"))
            samples.append(counts)
            print(f"  {mode}: {t:.3f}s ({counts})", flush=True)
        modes[mode] = samples
    return times, requests, modes


STORE_BUCKET = "bench-journals"


def journal_store(emu, runs):
    """The tutorial through the AWS-like latency mode with its journal in a local folder and in an
    S3 store on the same endpoint, whose requests are held like any other, alternating; the store's
    requests per write; and the renewal traffic of a lock held for a minute at the default lease."""
    emu.bucket = STORE_BUCKET
    cmd = [RUNBOOK, "run", "runbooks/tutorial.rhai", "--set", "propagation_wait=0"]
    envs = {
        "local folder": lambda: {"RUNBOOK_JOURNAL_DIR": tempfile.mkdtemp(prefix="runbook-bench-local-")},
        "S3 store": lambda: {"RUNBOOK_JOURNAL_DIR": f"s3://{STORE_BUCKET}/runs",
                             "RUNBOOK_CACHE_DIR": tempfile.mkdtemp(prefix="runbook-bench-cache-")},
    }
    times = {name: [] for name in envs}
    requests = {}
    writes = None
    for i in range(runs):
        order = list(envs) if i % 2 == 0 else list(reversed(envs))
        for name in order:
            t, err, counts = through_aws_like(emu, "latency", cmd, envs[name]())
            times[name].append(t)
            requests[name] = counts.get("requests")
            writes = calls_in(err, r"; (\d+) write\(s\)") or writes
        print(f"  journal, round {i + 1}/{runs}: " + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in envs), flush=True)
    # A lock held for two minutes: one write, then 120 s asleep, against the same with no sleep.
    hold = os.path.join(tempfile.mkdtemp(prefix="runbook-bench-hold-"), "hold.rhai")
    with open(hold, "w") as f:
        f.write('let vpc = ec2::describe_vpcs().Vpcs[0].VpcId;\n'
                'ec2::create_security_group(#{ GroupName: "bench-hold", Description: "held", VpcId: vpc });\n'
                'sleep(param("hold", 0));\n')
    held = {}
    for seconds in (0, 120):
        _, _, counts = through_aws_like(emu, "latency", [RUNBOOK, "run", hold, "--set", f"hold={seconds}"],
                                        envs["S3 store"]())
        held[seconds] = counts.get("requests")
        print(f"  lock held {seconds} s: {held[seconds]} requests", flush=True)
    emu.bucket = None
    return times, requests, writes, held


def fleet_scale(emu, runs):
    """The tutorial in one region, and in 16 regions at --concurrency 16, through the whole AWS-like
    mode (each region has its own buckets and lag, as on AWS)."""
    out = {}
    base = [RUNBOOK, "run", "runbooks/tutorial.rhai", "--set", "propagation_wait=0"]
    for label, extra in (("1 region", []), ("16 regions", ["--regions", ",".join(SIXTEEN), "--concurrency", "16"])):
        samples = []
        for _ in range(runs):
            t, _, counts = through_aws_like(emu, "full", base + extra)
            counts["time"] = t
            samples.append(counts)
            print(f"  {label}: {t:.3f}s ({counts})", flush=True)
        out[label] = samples
    return out


def cold_start(runs):
    env = dict(os.environ, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", RUNBOOK_JOURNAL_DIR=JOURNALS,
               AWS_CONFIG_FILE="/nonexistent/c", AWS_SHARED_CREDENTIALS_FILE="/nonexistent/c")
    empty = os.path.join(tempfile.mkdtemp(), "empty.rhai")
    open(empty, "w").close()
    out = {}
    for key, cmd in [("cold_version_ms", [RUNBOOK, "--version"]), ("cold_run_ms", [RUNBOOK, "run", empty])]:
        samples = [timed(cmd, env)[0] * 1000 for _ in range(runs)]
        out[key] = statistics.median(samples)
    return out


def authoring(emu, runs):
    """Medians of `runbook check runbooks examples` (no region, credentials or network) and of
    `runbook test runbooks` against the emulator."""
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    bare["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    check = [timed([RUNBOOK, "check", "runbooks", "examples"], bare)[0] for _ in range(runs)]
    emu.reset()
    test = [timed([RUNBOOK, "test", "runbooks"], emu.env())[0] for _ in range(runs)]
    return {"check_s": statistics.median(check), "test_s": statistics.median(test)}


def peak_memory(emu):
    emu.reset()
    env = emu.env()
    cmd = ["/usr/bin/time", "-f", "%M", RUNBOOK, "run", "runbooks/tutorial.rhai", "--set", "propagation_wait=0"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    kib = int(done.stderr.strip().splitlines()[-1])
    return kib / 1024


def layout_coverage():
    """How many of host/symbol-order.txt's names the release binary still holds: the list is made
    by `make layout` and goes stale as dependencies and the toolchain change."""
    path = os.path.join(ROOT, "host", "symbol-order.txt")
    if not os.path.exists(path):
        return None
    wanted = [line.strip() for line in open(path) if line.strip()]
    present = text_symbols(RUNBOOK)
    return len(wanted), sum(1 for name in wanted if name in present)


def text_symbols(binary):
    """The names of the binary's function symbols."""
    out = subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            names.add(parts[2])
    return names


def conversion():
    """Criterion's median per payload, and the allocations one conversion of it makes."""
    counts_file = os.path.join(tempfile.mkdtemp(prefix="runbook-bench-"), "allocations.json")
    env = dict(os.environ, RUNBOOK_BENCH_ALLOCATIONS=counts_file)
    subprocess.run(["cargo", "bench", "-q", "-p", "runbook-bindings", "--bench", "convert"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, env=env)
    with open(counts_file) as f:
        allocations = json.load(f)
    results = {}
    base = os.path.join(TARGET, "criterion")
    for entry in sorted(os.listdir(base)):
        new = os.path.join(base, entry, "new")
        if os.path.exists(os.path.join(new, "estimates.json")):
            with open(os.path.join(new, "benchmark.json")) as f:
                name = json.load(f)["full_id"]
            with open(os.path.join(new, "estimates.json")) as f:
                results[name] = json.load(f)["median"]["point_estimate"] / 1000.0
    return results, allocations


INCREMENTAL_FILES = ["host/src/cli.rs", "bindings/run/src/undo.rs", "bindings/src/call.rs"]


def build_cost():
    scratch = tempfile.mkdtemp(prefix="runbook-bench-target-")
    env = dict(os.environ, CARGO_TARGET_DIR=scratch)
    try:
        start = time.perf_counter()
        subprocess.run(["cargo", "build", "-q", "--workspace"], cwd=ROOT, env=env, check=True)
        clean = time.perf_counter() - start
        # A one-line change in a file of each layer above the generated operations: the host, the
        # run layer, the binding layer; each rebuilds its crate and those above it.
        incremental = {}
        for rel in INCREMENTAL_FILES:
            path = os.path.join(ROOT, rel)
            original = open(path).read()
            try:
                with open(path, "a") as f:
                    f.write("// a one-line change for the incremental-build benchmark\n")
                start = time.perf_counter()
                subprocess.run(["cargo", "build", "-q", "-p", "runbook"], cwd=ROOT, env=env, check=True)
                incremental[rel] = time.perf_counter() - start
            finally:
                with open(path, "w") as f:
                    f.write(original)
        return {"clean_debug_s": clean, "incremental_host_s": incremental["host/src/cli.rs"], "incremental_s": incremental}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def versions():
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip() or \
                subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stderr.strip()
        except OSError:
            return "?"
    lock = open(os.path.join(ROOT, "Cargo.lock")).read()
    sdks = re.findall(r'name = "(aws-sdk-[a-z0-9]+|aws-config|rhai)"\nversion = "([^"]+)"', lock)
    moto = out([os.path.join(VENV, "bin", "python"), "-c", "import moto; print(moto.__version__)"])
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
    return {
        "machine": f"{os.cpu_count()} cores ({cpu}), {int(mem) / 1024 / 1024:.0f} GiB, {platform.system()} {platform.release()}",
        "rustc": out(["rustc", "--version"]),
        "runbook": out([RUNBOOK, "--version"]),
        "aws CLI": out([os.path.join(VENV, "bin", "aws"), "--version"]),
        "moto": moto,
        "crates": ", ".join(f"{n} {v}" for n, v in sdks),
    }


def chart(times, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(times)
    med = [statistics.median(times[n]) for n in names]
    lo = [m - min(times[n]) for m, n in zip(med, names)]
    hi = [max(times[n]) - m for m, n in zip(med, names)]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bars = ax.barh(names, med, xerr=[lo, hi], color=["#b0b0b0", "#2b7bb9", "#6aa84f"], capsize=4)
    ax.set_xscale("log")
    ax.set_xlabel("seconds for the whole tutorial (median, min–max; log scale)")
    ax.set_title("The tutorial against a local emulator")
    for bar, m, n in zip(bars, med, names):
        ax.text(max(times[n]) * 1.12, bar.get_y() + bar.get_height() / 2, f"{m:.2f} s", va="center")
    ax.set_xlim(right=max(max(t) for t in times.values()) * 3)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def verdict(value, op, bound):
    ok = value <= bound if op == "<=" else value >= bound
    return "met" if ok else "**missed**"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--cold-runs", type=int, default=30)
    p.add_argument("--skip-build", action="store_true", help="do not measure the clean and incremental builds")
    p.add_argument("--fault-seeds", type=int, default=10)
    p.add_argument("--aws-like-runs", type=int, default=5)
    p.add_argument("--fleet-runs", type=int, default=2)
    args = p.parse_args()
    for binary in (RUNBOOK, FLOOR, FAULT_PROXY):
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing: make bench builds it")

    print("tutorial, three ways:", flush=True)
    emu = Emulator()
    try:
        times, calls = tutorial(emu, args.runs)
        print("runbook through the fault mix:", flush=True)
        faulted, faults, reconciled = under_faults(emu, args.fault_seeds)
        print("the tutorial through the AWS-like mode:", flush=True)
        like_times, like_requests, like_modes = aws_like(emu, args.aws_like_runs)
        print("one region and sixteen through the AWS-like mode:", flush=True)
        scale = fleet_scale(emu, args.fleet_runs)
        peak = peak_memory(emu)
        print("the tutorial with its journal in S3:", flush=True)
        store_times, store_requests, store_writes, store_held = journal_store(emu, args.aws_like_runs)
        print("runbook check and runbook test:", flush=True)
        authored = authoring(emu, args.runs)
    finally:
        emu.stop()
    print("cold start, conversion, build:", flush=True)
    cold = cold_start(args.cold_runs)
    print("scripts under runbook and a plain engine:", flush=True)
    script_rows = scripts.measure(args.runs)
    scripts.save(script_rows, args.runs)
    print("runbook lsp on a 500-line runbook:", flush=True)
    edits = editor.measure(RUNBOOK, 30)
    layout = layout_coverage()
    conv, allocations = conversion()
    saved_build = os.path.join(ROOT, "tests/bench/build.json")
    if args.skip_build:
        build = json.load(open(saved_build)) if os.path.exists(saved_build) else None
    else:
        build = build_cost()
        build["measured"] = time.strftime("%Y-%m-%d", time.gmtime())
        with open(saved_build, "w") as f:
            json.dump(build, f, indent=2)

    med = {n: statistics.median(t) for n, t in times.items()}
    measured = dict(cold)
    measured.update(authored)
    measured["runbook_over_floor"] = med["runbook"] / med["Rust SDK (floor)"]
    measured["cli_over_runbook"] = med["aws CLI script"] / med["runbook"]
    conversions = [us for name, us in conv.items() if name.startswith(("to_rhai/", "from_rhai/"))]
    measured["conversion_max_us"] = max(conversions) if conversions else float("nan")
    measured["peak_mib"] = peak
    measured["scripts_worst_ratio"] = max(r["work_ratio"] for r in script_rows)
    measured["lsp_diagnostics_ms"] = edits["diagnostics_ms"]
    like_med = {n: statistics.median(t) for n, t in like_times.items()}
    measured["aws_like_runbook_over_floor"] = like_med["runbook"] / like_med["Rust SDK (floor)"]
    scale_med = {k: statistics.median(x["time"] for x in v) for k, v in scale.items()}
    measured["sixteen_over_one"] = scale_med["16 regions"] / scale_med["1 region"]
    store_med = {n: statistics.median(t) for n, t in store_times.items()}
    measured["store_over_local"] = store_med["S3 store"] / store_med["local folder"]
    chart(times, os.path.join(ROOT, "tests/bench/tutorial.png"))

    v = versions()
    notes_path = os.path.join(ROOT, "tests/bench/notes.md")
    notes = open(notes_path).read().strip() if os.path.exists(notes_path) else ""
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (tests/bench/bench.py); the analysis at the end is tests/bench/notes.md.",
        "",
        f"- Machine: {v['machine']}",
        f"- {v['rustc']}; {v['runbook']} (release build); {v['aws CLI']}; moto {v['moto']}",
        f"- Crates: {v['crates']}",
        f"- Measured: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "## The tutorial, three ways",
        "",
        f"Each variant creates the prerequisites, runs every step of the tutorial and its verification, "
        f"against one local emulator reset before every run; after one untimed warm-up run each, "
        f"{args.runs} runs each, alternating.",
        "",
        "| variant | median | min | max | AWS calls |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n, t in times.items():
        c = calls.get(n)
        lines.append(f"| {n} | {med[n]:.3f} s | {min(t):.3f} s | {max(t):.3f} s | {c if c is not None else 'n/a'} |")
    lines += [
        "",
        f"runbook / floor: **{measured['runbook_over_floor']:.2f}x**; aws CLI / runbook: **{measured['cli_over_runbook']:.1f}x**.",
        "",
        "![the tutorial, three ways](tests/bench/tutorial.png)",
        "",
        "## The tutorial through faults",
        "",
        f"`runbook run runbooks/tutorial.rhai` with default retry settings, through the tests' fault proxy "
        f"(tests/proxy.rs): 20 % of the requests fail before they reach the emulator (throttling, 500, 503, "
        f"a cut connection, a 300 ms delay) and 5 % of the answers are dropped after the emulator did the work. "
        f"One run per seed, {args.fault_seeds} seeds; every run completed. Over all seeds, {reconciled['found']} "
        f"write(s) whose answer was lost were found done by a look-up and answered from it, and "
        f"{reconciled['resent']} were found not done and sent again.",
        "",
        "| run | median | min | max |",
        "| --- | --- | --- | --- |",
        f"| clean (from the table above) | {med['runbook']:.3f} s | {min(times['runbook']):.3f} s | {max(times['runbook']):.3f} s |",
        f"| through the fault mix | {statistics.median(faulted):.3f} s | {min(faulted):.3f} s | {max(faulted):.3f} s |",
        "",
        "Most of the difference is the SDK's backoff before each retry (1 s doubling, with jitter).",
        "",
        "## The tutorial through the AWS-like mode",
        "",
        f"The same three variants through the test proxy's AWS-like mode (tests/aws_like.rs, run by "
        f"`fault-proxy UPSTREAM aws-like MODE`), the emulator reset before every run. With `latency`, every "
        f"answer is held 20–60 ms, as a region's endpoint answers from nearby, and nothing else: on AWS the "
        f"requests are the cost. {args.aws_like_runs} runs each, alternating; requests are counted by the proxy.",
        "",
        "| variant | median | min | max | requests per run |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n, t in like_times.items():
        lines.append(f"| {n} | {like_med[n]:.3f} s | {min(t):.3f} s | {max(t):.3f} s | {like_requests.get(n)} |")
    lines += [
        "",
        f"runbook / floor: **{measured['aws_like_runbook_over_floor']:.2f}x**.",
        "",
        "runbook alone, with more of AWS's behaviour: `lag` adds 4 s of \"not found\" (and of filtered "
        "describes leaving it out) after each create; `full` adds load balancers `provisioning` for 10 s and "
        "token-bucket throttling. The cost of the waits and retries is the difference from `latency`.",
        "",
        "| mode | median | requests | throttled | answered not-found | `[retry]` lines | cost over `latency` |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| latency (from the table above) | {like_med['runbook']:.3f} s | {like_requests.get('runbook')} | 0 | 0 | 0 | |",
    ]
    for mode, samples in like_modes.items():
        med_t = statistics.median(x["time"] for x in samples)
        pick = min(samples, key=lambda x: abs(x["time"] - med_t))
        lines.append(
            f"| {mode} | {med_t:.3f} s | {pick.get('requests')} | {pick.get('throttled')} | {pick.get('lagged')} | "
            f"{pick['retries']} | {med_t - like_med['runbook']:+.3f} s |")
    lines += [
        "",
        "The tutorial in one region, and in 16 regions at `--concurrency 16`, through the `full` mode (each "
        "region with its own buckets and lag, as on AWS); median of "
        f"{args.fleet_runs} runs each.",
        "",
        "| run | median | requests | throttled | answered not-found |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, samples in scale.items():
        pick = min(samples, key=lambda x: abs(x["time"] - scale_med[label]))
        lines.append(f"| {label} | {scale_med[label]:.3f} s | {pick.get('requests')} | {pick.get('throttled')} | {pick.get('lagged')} |")
    lines += [
        "",
        f"16 regions / 1 region: **{measured['sixteen_over_one']:.2f}x**.",
        "",
        "## The tutorial with its journal in S3",
        "",
        f"`runbook run runbooks/tutorial.rhai` through the AWS-like `latency` mode, its journal in a local folder "
        f"or in a journal store `s3://{STORE_BUCKET}/runs` on the same emulator, each store request held 20–60 ms "
        f"like any other, as S3 in the same region would; {args.aws_like_runs} runs each, alternating.",
        "",
        "| journal | median | min | max | requests per run |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n, t in store_times.items():
        lines.append(f"| {n} | {store_med[n]:.3f} s | {min(t):.3f} s | {max(t):.3f} s | {store_requests.get(n)} |")
    extra = (store_requests.get("S3 store") or 0) - (store_requests.get("local folder") or 0)
    renewals = ((store_held.get(120) or 0) - (store_held.get(0) or 0)) / 2
    lines += [
        "",
        f"S3 store / local folder: **{measured['store_over_local']:.2f}x**. The store added {extra} requests to a run "
        f"of {store_writes} writes: {extra / store_writes if store_writes else float('nan'):.2f} per write, "
        "counting the bucket check at the start, the lock's take and give-back, and one object per record "
        "(each write has an intent and an outcome).",
        "",
        f"A run holding its lock for two minutes at the default lease (60 s, renewed every 20 s, each renewal "
        f"one conditional write) made {renewals:.1f} more requests per minute than the same run without "
        "the two minutes: the renewal traffic of one lock.",
        "",
        "## Cold start, memory, conversion",
        "",
        "| measure | result |",
        "| --- | --- |",
        f"| `runbook --version` (median of {args.cold_runs}) | {cold['cold_version_ms']:.1f} ms |",
        f"| `runbook run` of an empty runbook (median of {args.cold_runs}) | {cold['cold_run_ms']:.1f} ms |",
        f"| peak memory (max RSS) of `runbook run runbooks/tutorial.rhai` | {peak:.1f} MiB |",
        f"| `runbook check runbooks examples`, no region or network (median of {args.runs}) | {authored['check_s'] * 1000:.0f} ms |",
        f"| `runbook test runbooks` against the emulator (median of {args.runs}) | {authored['test_s'] * 1000:.0f} ms |",
    ]
    if layout:
        lines.append(f"| functions of `host/symbol-order.txt` found in the binary (`make layout` renews the list) | {layout[1]} of {layout[0]} |")
    for name, us in conv.items():
        n = allocations.get(name)
        count = f", {n:,} allocations" if n is not None else ""
        what = "conversion" if name.startswith(("to_rhai/", "from_rhai/")) else "allocation alone"
        lines.append(f"| {what} `{name}` (criterion median{count}) | {us:.1f} µs |")
    if build:
        lines += [
            f"| clean debug build of the workspace ({build['measured']}) | {build['clean_debug_s'] / 60:.1f} min |",
        ]
        for rel, secs in build.get("incremental_s", {"host/src/cli.rs": build["incremental_host_s"]}).items():
            lines.append(f"| incremental rebuild of the binary after a one-line change in `{rel}` ({build['measured']}) | {secs:.1f} s |")
    lines += [
        "",
        "## Scripts at Rhai's own speed",
        "",
        f"Each workload (tests/bench/scripts.py) by `runbook run` with its default limits and by a plain "
        f"`rhai::Engine::new()` (`plain-rhai`), both release builds, median of {args.runs} runs, the same "
        "output from both. runbook's times include its start (about the cold start above).",
        "",
        scripts.table(script_rows),
    ]
    lines += [
        "",
        "## An editor's wait",
        "",
        f"`runbook lsp` (tests/bench/editor.py) with a {edits['lines']}-line runbook open (the tutorial's steps "
        f"one after another; {edits['mistakes']} diagnostics): {edits['runs']} edits of one line in its middle, "
        "each timed from the change sent to its diagnostics received, and as many completions of an "
        "operation's members at its end.",
        "",
        "| request | median | max |",
        "| --- | --- | --- |",
        f"| diagnostics after an edit | {edits['diagnostics_ms']:.1f} ms | {edits['diagnostics_max_ms']:.1f} ms |",
        f"| completion in an operation's map | {edits['completion_ms']:.1f} ms | {edits['completion_max_ms']:.1f} ms |",
    ]
    lines += ["", "## Targets", "", "| target | measured | verdict |", "| --- | --- | --- |"]
    for label, key, op, bound, unit in TARGETS:
        lines.append(f"| {label} ({op} {bound:g} {unit}) | {measured[key]:.2f} {unit} | {verdict(measured[key], op, bound)} |")
    if notes:
        lines += ["", notes]
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
