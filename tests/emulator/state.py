"""The state of places on the emulator, read with the aws CLI's own commands.

Usage: state.py ENDPOINT PLACE...   where PLACE is REGION or ACCOUNT/REGION (the role `runbook` is
assumed in ACCOUNT, as the tests' fleets do). Prints one JSON object: per place, the security groups
(name, description, ingress rules) and target groups (name, protocol, port) there, sorted, without
the ids the emulator makes up. The commands run through the aws CLI's driver in this one process,
so a check of many places costs one interpreter start.
"""

import contextlib
import io
import json
import os
import sys

from awscli.clidriver import create_clidriver


# One driver per set of credentials: a driver keeps the credentials it first read, and making one
# (the CLI's whole command table) costs more than the calls it then answers.
DRIVERS = {}


def aws(args, env):
    key = env["AWS_ACCESS_KEY_ID"]
    if key not in DRIVERS:
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update({k: v for k, v in env.items() if v})
        DRIVERS[key] = create_clidriver()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = DRIVERS[key].main(args + ["--output", "json"])
    if code != 0:
        raise SystemExit(f"aws {' '.join(args)} failed with {code}")
    return json.loads(out.getvalue() or "{}")


# The role's credentials in each account, assumed once for both of its regions.
ASSUMED = {}


def place_state(endpoint, place):
    account, _, region = place.rpartition("/")
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    base = ["--endpoint-url", endpoint, "--region", region]
    if account:
        if account not in ASSUMED:
            ASSUMED[account] = aws(["sts", "assume-role", "--role-arn", f"arn:aws:iam::{account}:role/runbook",
                                    "--role-session-name", "state"] + base, env)["Credentials"]
        creds = ASSUMED[account]
        env = dict(AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
                   AWS_SESSION_TOKEN=creds["SessionToken"])
    groups = aws(["ec2", "describe-security-groups"] + base, env)["SecurityGroups"]
    tgs = aws(["elbv2", "describe-target-groups"] + base, env)["TargetGroups"]
    sgs = sorted(
        [g["GroupName"], g["Description"],
         sorted(json.dumps([p.get("IpProtocol"), p.get("FromPort"), p.get("ToPort"),
                            sorted(r["CidrIp"] for r in p.get("IpRanges", []))]) for p in g["IpPermissions"])]
        for g in groups if g["GroupName"] != "default"
    )
    tgs = sorted([t["TargetGroupName"], t["Protocol"], t["Port"]] for t in tgs)
    return {"security_groups": sgs, "target_groups": tgs}


def main():
    endpoint, places = sys.argv[1], sys.argv[2:]
    print(json.dumps({p: place_state(endpoint, p) for p in places}, sort_keys=True))


if __name__ == "__main__":
    main()
