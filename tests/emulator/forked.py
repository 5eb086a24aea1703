"""Runs the aws CLI, or a Python script of the tests, in a process forked from the emulator pool
(tests/emulator/pool.py), which has imported the CLI already: the same code as `aws` itself runs,
with this process's arguments, environment, folder, standard input, output and error, and its exit
code, without the half second each new interpreter spends importing it. Without a pool
(RUNBOOK_EMULATOR_POOL unset), it runs the real thing from .venv/.

Usage: forked.py aws ARGS...          as `aws ARGS...`
       forked.py script PATH ARGS...  as `python PATH ARGS...`

Started with `python -S`: it imports nothing but the standard library's socket and json.
"""

import json
import os
import socket
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.environ.get("RUNBOOK_VENV") or os.path.join(ROOT, ".venv")


def main():
    what, args = sys.argv[1], sys.argv[2:]
    pool = os.environ.get("RUNBOOK_EMULATOR_POOL")
    if not pool:
        python = os.path.join(VENV, "bin", "python")
        if what == "aws":
            os.execv(python, [python, os.path.join(VENV, "bin", "aws")] + args)
        os.execv(python, [python] + args)
    request = {"run": what, "argv": args, "env": dict(os.environ), "cwd": os.getcwd()}
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(pool)
    socket.send_fds(conn, [(json.dumps(request) + "\n").encode()], [0, 1, 2])
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = conn.recv(64)
        if not chunk:
            sys.stderr.write(f"forked.py: the pool's {what} process ended without an exit code\n")
            sys.exit(255)
        answer += chunk
    sys.exit(int(answer))


main()
