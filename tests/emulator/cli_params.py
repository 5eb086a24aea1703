"""The aws CLI as the oracle of what a command line asks: reads a JSON list of command lines (each
a list of words after `aws`) on stdin and prints, for each, the operation's parameters as the CLI
builds them (member names, before anything is sent) or the CLI's exit code and error text.
Idempotency tokens the CLI fills in itself are left out. Nothing is sent: the request stops at
the CLI's last step before signing.

With --send, each command is sent (to the endpoint of the environment) and what the CLI printed
is given instead: {"code", "stdout", "stderr"}. One driver answers every line either way, so the
CLI's command tables are built once."""
import base64
import contextlib
import datetime
import io
import json
import sys

from awscli.clidriver import create_clidriver


class Stop(Exception):
    pass


def plain(v):
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return {"blob": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, datetime.datetime):
        return {"timestamp": v.isoformat()}
    return v


def one(driver, seen, words):
    seen.clear()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = driver.main(list(words) + ["--region", "us-east-1"])
        except SystemExit as e:
            rc = e.code
        except Stop:
            rc = 0
    if "params" in seen:
        return {"params": seen["params"]}
    return {"rc": rc, "error": err.getvalue().strip().splitlines()[-1:]}


def sent(driver, words):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = driver.main(list(words))
        except SystemExit as e:
            rc = e.code
    return {"code": rc, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main():
    lines = json.load(sys.stdin)
    if "--send" in sys.argv[1:]:
        driver = create_clidriver()
        print(json.dumps([sent(driver, words) for words in lines]))
        return
    seen = {}

    def capture(params, model, **_):
        members = model.input_shape.members if model.input_shape else {}
        tokens = {m for m in members if members[m].metadata.get("idempotencyToken")}
        seen["params"] = plain({k: v for k, v in params.items() if k not in tokens})
        raise Stop()

    driver = create_clidriver()
    driver.session.register("before-parameter-build", capture)
    print(json.dumps([one(driver, seen, words) for words in lines]))


if __name__ == "__main__":
    main()
