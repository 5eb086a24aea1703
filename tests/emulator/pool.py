"""A pool of emulators for the end-to-end tests: one process that has imported the emulator, built its
services' applications and answered a first request in the regions the tests use, and then hands each
test a private emulator of its own by forking itself. A test's emulator is then ready in milliseconds,
with none of the second or so a new emulator spends importing and setting itself up, and its state
is its own, as a separately started one's would be. It has imported the aws CLI too, and runs it
(or a test's Python script) for tests/emulator/forked.py in a forked process the same way.

Usage: pool.py SOCKET     prints "ready" once it accepts requests on the Unix socket SOCKET.

An emulator request is one line, "start" followed by NAME=VALUE words (environment variables the
emulator reads, such as MOTO_ECS_SERVICE_RUNNING=1). The answer is one line, "PORT PID": an emulator
listening on 127.0.0.1:PORT, which the test stops by killing PID; or "own: why" for a variable moto
reads only as it starts, which a forked emulator cannot take. Emulators end with the pool.

A run request is one line of JSON, {"run": "aws" or "script", "argv", "env", "cwd"}, sent with the
caller's standard input, output and error; the answer is the exit code, on one line, once it ends.
"""

import ctypes
import importlib
import json
import os
import random
import runpy
import signal
import socket
import sys
import traceback

import awscli
import awscli.clidriver

from werkzeug.serving import make_server
from werkzeug.test import Client

from moto import settings
from moto.moto_api import state_manager
from moto.moto_api._internal import mock_random
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

# What configure.py does to a started emulator: ECS tasks stay RUNNING (docs/src/emulator.md).
state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 1000000})

app = DomainDispatcherApplication(create_backend_app)
app.debug = True

# A first request to each service in the regions the tests use: imports its backend, builds its
# application and sets up the region (a default VPC and subnets, as any first request would).
FORM = "application/x-www-form-urlencoded"
WARM = [
    ("ec2", "POST", "/", FORM, "Action=DescribeVpcs&Version=2016-11-15", None),
    ("elasticloadbalancing", "POST", "/", FORM, "Action=DescribeTargetGroups&Version=2015-12-01", None),
    ("iam", "POST", "/", FORM, "Action=ListRoles&Version=2010-05-08", None),
    ("sts", "POST", "/", FORM, "Action=GetCallerIdentity&Version=2011-06-15", None),
    ("ecs", "POST", "/", "application/x-amz-json-1.1", "{}", "AmazonEC2ContainerServiceV20141113.ListClusters"),
    ("application-autoscaling", "POST", "/", "application/x-amz-json-1.1", json.dumps({"ServiceNamespace": "ecs"}),
     "AnyScaleFrontendService.DescribeScalableTargets"),
    ("acm", "POST", "/", "application/x-amz-json-1.1", "{}", "CertificateManager.ListCertificates"),
    ("route53", "GET", "/2013-04-01/hostedzone", None, None, None),
    ("s3", "GET", "/", None, None, None),
]
client = Client(app)
for region in ("us-east-1", "eu-west-1"):
    for service, method, path, content_type, body, target in WARM:
        headers = {
            "Host": "127.0.0.1",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, "
                             "SignedHeaders=host, Signature=0",
        }
        if target:
            headers["X-Amz-Target"] = target
        answer = client.open(path, method=method, headers=headers, data=body, content_type=content_type)
        if answer.status_code >= 400:
            sys.exit(f"pool: warming {service} in {region} answered {answer.status_code}: {answer.get_data()[:300]}")

# The aws CLI's driver, made once: it imports the CLI's commands and customizations.
awscli.clidriver.create_clidriver()


# The emulator's variables that a forked emulator can still take: moto reads them as it answers, not
# as it imports or makes a backend.
READ_PER_REQUEST = {"MOTO_ECS_SERVICE_RUNNING", "MOTO_ACM_VALIDATION_WAIT"}


def child():
    """What every forked process does first."""
    # Dies with the pool, so that nothing outlives a test run (PR_SET_PDEATHSIG = 1).
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    for sig in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def serve(conn, words):
    """In a forked child: becomes the emulator one test asked for."""
    child()
    # Ids drawn in this emulator are its own, not the same in every emulator of the pool.
    random.seed()
    mock_random.seed()
    for word in words:
        name, _, value = word.partition("=")
        os.environ[name] = value
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    os.environ["MOTO_PORT"] = str(server.port)
    # Settings read from the environment at import, read again with this emulator's variables.
    importlib.reload(settings)
    conn.sendall(f"{server.port} {os.getpid()}\n".encode())
    conn.close()
    server.serve_forever()


def run(conn, request, fds):
    """In a forked child: runs the aws CLI or a script as the caller's process would, on its
    standard streams, and answers its exit code."""
    child()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # What importing awscli does to the environment (its data folder after the caller's own).
    paths = [os.path.expanduser(os.path.expandvars(p)) for p in request["env"].get("AWS_DATA_PATH", "").split(os.pathsep) if p]
    os.environ["AWS_DATA_PATH"] = os.pathsep.join(paths + [os.path.join(os.path.dirname(awscli.__file__), "data")])
    try:
        if request["run"] == "aws":
            sys.argv = ["aws"] + request["argv"]
            # As the CLI's own `aws` script does before it starts the driver.
            if os.environ.get("LC_CTYPE", "") == "UTF-8":
                os.environ["LC_CTYPE"] = "en_US.UTF-8"
            code = awscli.clidriver.main()
        else:
            sys.argv = request["argv"]
            runpy.run_path(request["argv"][0], run_name="__main__")
            code = 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            sys.stderr.write(f"{e.code}\n")
            code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception:  # what an interpreter prints of an uncaught error, and its exit code
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    conn.sendall(f"{code}\n".encode())


def main():
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    # Children are reaped by the kernel; the pool never waits for one.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    # Nothing reads the pool's output after that; the emulators' request logs are not kept.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    while True:
        conn, _ = listener.accept()
        line, fds = b"", []
        while not line.endswith(b"\n"):
            chunk, more, _, _ = socket.recv_fds(conn, 1 << 16, 3)
            fds += more
            if not chunk:
                break
            line += chunk
        text = line.decode()
        words = text.split()
        if text.startswith("{"):
            job = lambda: run(conn, json.loads(text), fds)
        elif words and words[0] == "start":
            late = [w.partition("=")[0] for w in words[1:] if w.partition("=")[0] not in READ_PER_REQUEST]
            if late:
                # The pool's backends were made before this emulator's variables were known.
                conn.sendall(f"own: {late[0]} is read as the emulator starts; start one of its own\n".encode())
                job = None
            else:
                job = lambda: serve(conn, words[1:])
        else:
            conn.sendall(b"error: expected 'start [NAME=VALUE ...]' or a JSON run request\n")
            job = None
        if job and os.fork() == 0:
            listener.close()
            try:
                job()
            finally:
                os._exit(0)
        conn.close()
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    main()
