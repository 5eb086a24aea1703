"""Waits until the emulator at the given URL answers, then makes it behave like AWS where the
runbooks need it: ECS tasks stay RUNNING instead of advancing one state per request."""
import json
import sys
import time
import urllib.request

url = sys.argv[1]
deadline = time.time() + 30
while True:
    try:
        urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
        break
    except OSError:
        if time.time() > deadline:
            sys.exit(f"the emulator at {url} did not start within 30 s")
        time.sleep(0.1)

body = json.dumps({"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}})
req = urllib.request.Request(url + "/moto-api/state-manager/set-transition", data=body.encode(), method="POST")
urllib.request.urlopen(req, timeout=5).read()
