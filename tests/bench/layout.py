"""make layout: writes host/symbol-order.txt, the functions of the release binary that the tutorial
executes, so that the linker places them together (see host/build.rs).

Runs, under valgrind's callgrind against one local emulator: the tutorial, a plan of it on a fresh
emulator, and the undo of the run. Every function callgrind saw executing that is a symbol of the
binary goes into the list, sorted by name so that a regenerated list differs only where the code
did. Symbols of functions that no longer exist are skipped by the linker; `make bench` reports how
many of the list's names the current binary still holds."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import ROOT, RUNBOOK, Emulator, text_symbols  # noqa: E402

ORDER = os.path.join(ROOT, "host", "symbol-order.txt")


def executed(cmd, env, out_dir, label):
    """The functions callgrind saw executing while `cmd` ran (all of its threads)."""
    out = os.path.join(out_dir, f"{label}.callgrind")
    valgrind = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no",
        "--compress-strings=no", "--compress-pos=no", "--demangle=no", "--quiet",
    ]
    done = subprocess.run(valgrind + cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"layout: {' '.join(cmd)} failed under callgrind:\n{done.stderr}")
    names = set()
    with open(out) as f:
        for line in f:
            if line.startswith(("fn=", "cfn=")):
                names.add(line.split("=", 1)[1].strip())
    return names


def main():
    if shutil.which("valgrind") is None:
        sys.exit("layout: valgrind is not installed (Debian: apt-get install valgrind)")
    if not os.path.exists(RUNBOOK):
        sys.exit(f"layout: {RUNBOOK} is missing: make layout builds it")
    symbols = text_symbols(RUNBOOK)
    out_dir = tempfile.mkdtemp(prefix="runbook-layout-")
    emu = Emulator()
    seen = set()
    try:
        env = emu.env()
        env["RUNBOOK_JOURNAL_DIR"] = os.path.join(out_dir, "journal")
        tutorial = ["runbooks/tutorial.rhai", "--set", "propagation_wait=0"]
        emu.reset()
        seen |= executed([RUNBOOK, "plan", *tutorial], env, out_dir, "plan")
        emu.reset()
        seen |= executed([RUNBOOK, "run", *tutorial], env, out_dir, "run")
        seen |= executed([RUNBOOK, "undo", "last"], env, out_dir, "undo")
    finally:
        emu.stop()
        shutil.rmtree(out_dir, ignore_errors=True)
    order = sorted(seen & symbols)
    if len(order) < 1000:
        sys.exit(f"layout: only {len(order)} functions of the binary seen executing; is it stripped?")
    with open(ORDER, "w") as f:
        f.write("\n".join(order) + "\n")
    print(f"layout: {len(order)} functions written to {os.path.relpath(ORDER, ROOT)}")


if __name__ == "__main__":
    main()
