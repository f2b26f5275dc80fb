"""One fleet host for the multi-process tests: an engine on the shared Redis state.

Run as ``python fleet_host.py JOB_JSON``. The host builds its engine, reports ready, waits
for the starting signal (so every host races at once), does its job and prints one JSON
line. Jobs: ``plan`` (inputs), ``record`` (usages), ``schedule`` (at), ``hold`` (schedule,
print, then sleep until killed).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import redis

import racs


def main() -> None:
    job: dict[str, Any] = json.loads(sys.argv[1])
    prefix = job["prefix"]
    client = redis.Redis.from_url(job["url"])
    state = racs.redis_state(job["url"], prefix=prefix, lease_seconds=job.get("lease", 15))
    now = job.get("now")
    engine = racs.create_racs(state=state, clock=None if now is None else (lambda: now))
    client.incr(prefix + "test:ready")
    if client.blpop([prefix + "test:go"], timeout=60) is None:
        raise SystemExit("no starting signal")
    out: dict[str, Any] = {}
    if job["do"] == "plan":
        out["plans"] = [engine.plan(p).to_dict() for p in job["inputs"]]
    elif job["do"] == "record":
        for usage in job["usages"]:
            engine.record(usage)
    elif job["do"] in ("schedule", "hold"):
        out["due"] = [e.prefix_key for e in engine.schedule(job["at"])]
    print(json.dumps(out), flush=True)
    if job["do"] == "hold":
        time.sleep(600)  # the test kills this host while it holds its leases
    engine.close()


if __name__ == "__main__":
    main()
