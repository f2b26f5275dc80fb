"""A ledger writer run as a separate process by the concurrency tests.

    python writer.py TARGET runs NAME COUNT START_AT   # COUNT iterations, then exit
    python writer.py TARGET forever NAME               # until killed
    python writer.py TARGET seal NAME START_AT         # chain what is queued, print how many

Each iteration starts, records and completes one run with single calls; every tenth
also appends a batch of two runs. ``forever`` prints every acknowledged position, one per
line, as soon as the call returns.
"""

from __future__ import annotations

import sys
import time

from racs.ledger import create_ledger


def main(argv: list[str]) -> int:
    target, mode, name = argv[1], argv[2], argv[3]
    count = int(argv[4]) if mode == "runs" else None
    if mode == "seal":
        with create_ledger(target) as ledger:
            time.sleep(max(0.0, float(argv[4]) - time.time()))  # start together
            print(ledger.seal_pending(), flush=True)
        return 0
    if mode == "runs":
        time.sleep(max(0.0, float(argv[5]) - time.time()))  # start together
    acknowledged: list[int] = []
    with create_ledger(target) as ledger:
        i = 0
        while count is None or i < count:
            run_id = ledger.start_run(workspace_id="ws", agent_id=name, provider="p", model="m")
            acknowledged.append(ledger.record_provider_call(run_id, {"i": i}))
            acknowledged.append(ledger.complete_run(run_id, input_tokens=i, latency_ms=i))
            if i % 10 == 0:
                with ledger.batch() as batch:
                    for _ in range(2):
                        batched = batch.start_run(
                            workspace_id="ws", agent_id=name, provider="p", model="m"
                        )
                        batch.complete_run(batched, input_tokens=1)
                acknowledged.extend(batch.positions)
            if count is None:
                print("\n".join(map(str, acknowledged)), flush=True)
                acknowledged.clear()
            i += 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
