"""Scripts at Rhai's own speed: each workload run by `runbook run` (release) and by a plain Rhai
engine (`plain-rhai`, nothing registered, no limits), median of RUNS runs each, the same output
required of both. The workloads are written here: loops, lists, maps, strings, nested data,
recursion and closures, at 10 k, 100 k and 1 M elements where a size applies.

Usage: scripts.py [--runs N]   writes tests/bench/scripts.json and prints its table.
Run by tests/bench/bench.py (make bench), which puts the table in BENCHMARKS.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
RUNBOOK = os.path.join(TARGET, "release", "runbook")
PLAIN = os.path.join(TARGET, "release", "plain-rhai")
SAVED = os.path.join(ROOT, "tests/bench/scripts.json")
# Each within this factor of the plain engine (issue: scripts at Rhai's own speed).
BOUND = 1.5

SIZES = [10_000, 100_000, 1_000_000]
WORKLOADS = {
    "list push": "let l = [];\nfor i in 0..N { l.push(i); }\nprint(l.len());\n",
    "map insert": "let m = #{};\nfor i in 0..N { m[\"k\" + i] = i; }\nprint(m.len());\n",
    "string append": "let s = \"\";\nfor i in 0..N { s += \"x\"; }\nprint(s.len());\n",
    "list of maps": "let l = [];\nfor i in 0..N { l.push(#{ id: i, name: \"n\" + i }); }\nprint(l[N - 1].name);\n",
}
FIXED = {
    "loop arithmetic (1 M)": "let t = 0;\nfor i in 0..1000000 { t += i * 2 % 7; }\nprint(t);\n",
    "recursion (fib 22)": "fn fib(n) { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }\nprint(fib(22));\n",
    "closures (100 k)": "let a = [];\nfor i in 0..100000 { a.push(i); }\n"
    "let b = a.map(|x| x * 2).filter(|x| x % 3 == 0).reduce(|s, x| s + x, 0);\nprint(b);\n",
}


def cases():
    for name, text in WORKLOADS.items():
        for n in SIZES:
            yield f"{name} ({n // 1000:,} k)" if n < 1_000_000 else f"{name} (1 M)", text.replace("N", str(n))
    yield from FIXED.items()


def timed(cmd, env):
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return took, out.stdout


def measure(runs):
    for binary in (RUNBOOK, PLAIN):
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing: make bench builds it")
    folder = tempfile.mkdtemp()
    env = dict(os.environ, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
               AWS_ENDPOINT_URL="http://127.0.0.1:9", RUNBOOK_JOURNAL_DIR=os.path.join(folder, "journal"),
               AWS_CONFIG_FILE="/nonexistent/c", AWS_SHARED_CREDENTIALS_FILE="/nonexistent/c")
    # runbook's own start (an empty script), taken from its times for the ratio of the scripts' work.
    empty = os.path.join(folder, "empty.rhai")
    open(empty, "w").close()
    start = statistics.median(timed([RUNBOOK, "run", empty], env)[0] for _ in range(max(runs, 5)))
    rows = []
    for name, text in cases():
        path = os.path.join(folder, "script.rhai")
        with open(path, "w") as f:
            f.write(text)
        times = {"runbook": [], "plain": []}
        outputs = set()
        for _ in range(runs):
            for key, cmd in (("runbook", [RUNBOOK, "run", path]), ("plain", [PLAIN, path])):
                took, out = timed(cmd, env)
                times[key].append(took)
                outputs.add(out)
        if len(outputs) != 1:
            sys.exit(f"{name}: runbook and the plain engine printed different things: {outputs}")
        rb, plain = statistics.median(times["runbook"]), statistics.median(times["plain"])
        work = max(rb - start, 0.0)
        rows.append({"workload": name, "runbook_s": rb, "plain_s": plain, "ratio": rb / plain,
                     "start_s": start, "work_ratio": work / plain})
    return rows


def table(rows):
    lines = [
        "| workload | runbook run | plain Rhai engine | ratio | ratio without runbook's start |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        flag = "" if r["work_ratio"] <= BOUND else f" (over {BOUND}×)"
        lines.append(f"| {r['workload']} | {r['runbook_s']:.3f} s | {r['plain_s']:.3f} s | {r['ratio']:.2f}× "
                     f"| {r['work_ratio']:.2f}×{flag} |")
    if rows:
        lines.append("")
        lines.append(f"runbook's start (`runbook run` of an empty script, median): {rows[0]['start_s'] * 1000:.1f} ms.")
    return "\n".join(lines)


def save(rows, runs):
    """Keeps the figures in tests/bench/scripts.json."""
    with open(SAVED, "w") as f:
        json.dump({"measured": time.strftime("%Y-%m-%d", time.gmtime()), "runs": runs, "rows": rows}, f, indent=2)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    rows = measure(args.runs)
    save(rows, args.runs)
    print(table(rows))


if __name__ == "__main__":
    main()
