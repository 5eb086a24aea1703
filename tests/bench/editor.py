"""How fast `runbook lsp` answers an editor: the time from a change of a 500-line runbook to its
diagnostics (didChange sent, publishDiagnostics received), and of a completion inside an operation's
map. Run by bench.py (`make bench`); alone: python3 tests/bench/editor.py BINARY [RUNS]."""

import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINES = 500


def runbook_of(lines):
    """A runbook of `lines` lines from the repository's own: the tutorial's steps one after another,
    again and again, their functions renamed at each copy so that they stay distinct."""
    parts = []
    names = ["create_tg", "attach_alb", "autoscale", "verify", "ecs_prereqs"]
    copy = 0
    while sum(p.count("\n") for p in parts) < lines:
        for name in names:
            path = os.path.join(ROOT, "runbooks", f"{name}.rhai")
            if not os.path.exists(path):
                continue
            text = open(path).read()
            text = text.replace("fn ", f"fn c{copy}_")
            parts.append(text + "\n")
            copy += 1
    return "".join(parts).split("\n")[:lines]


class Server:
    def __init__(self, binary):
        env = dict(os.environ, AWS_ENDPOINT_URL="http://127.0.0.1:9")
        self.p = subprocess.Popen([binary, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        self.next = 0

    def send(self, message):
        body = json.dumps(message).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.p.stdin.flush()

    def receive(self):
        length = None
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise EOFError("runbook lsp closed its output")
            line = line.strip()
            if not line:
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(self.p.stdout.read(length))

    def request(self, method, params):
        self.next += 1
        self.send({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params})
        while True:
            m = self.receive()
            if m.get("id") == self.next:
                return m

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics(self):
        while True:
            m = self.receive()
            if m.get("method") == "textDocument/publishDiagnostics":
                return m["params"]["diagnostics"]

    def stop(self):
        self.request("shutdown", None)
        self.notify("exit", None)
        self.p.wait(timeout=10)


def measure(binary, runs=20):
    """Medians and maxima, in milliseconds, over `runs` edits and completions."""
    lines = runbook_of(LINES)
    uri = "file://" + os.path.join(ROOT, "runbooks", "bench-editor.rhai")
    server = Server(binary)
    try:
        server.request("initialize", {"capabilities": {}})
        server.notify("initialized", {})
        server.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "rhai", "version": 1,
                                                               "text": "\n".join(lines)}})
        found = server.diagnostics()
        changes, completions = [], []
        for i in range(runs):
            # An edit in the middle, as typing makes it: a line added and taken away again.
            edited = lines[:LINES // 2] + [f"let typed_{i} = elbv2::describe_target_groups(#{{ Names: [\"x\"] }});"] + lines[LINES // 2:]
            started = time.perf_counter()
            server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": i + 2},
                                                      "contentChanges": [{"text": "\n".join(edited)}]})
            server.diagnostics()
            changes.append((time.perf_counter() - started) * 1000)
            text = "\n".join(lines) + "\nelbv2::create_target_group(#{ Health"
            server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": i + 1000},
                                                      "contentChanges": [{"text": text}]})
            server.diagnostics()
            started = time.perf_counter()
            answer = server.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                                "position": {"line": len(lines), "character": 36}})
            completions.append((time.perf_counter() - started) * 1000)
            if not answer["result"]["items"]:
                raise RuntimeError("no completion")
    finally:
        server.stop()
    return {
        "lines": len(lines),
        "mistakes": len(found),
        "diagnostics_ms": statistics.median(changes),
        "diagnostics_max_ms": max(changes),
        "completion_ms": statistics.median(completions),
        "completion_max_ms": max(completions),
        "runs": runs,
    }


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20), indent=2))
