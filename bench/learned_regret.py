"""The learned policy against the fixed tiers: the regret suite, the shared transcripts and
the Mooncake trace's conversations, neutral and pessimistic.

Prints one Markdown table per corpus: per stream, 5m only, 1h only, learned and the
hindsight optimum (USD), learned's excess over the better fixed tier as a share of the
optimum, then the share of the possible savings each captures in total. The suite lives in
``tests/learning/suite.py`` (the tests check the same figures). Run:
``python bench/learned_regret.py [--shared ../shared]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from learning.suite import all_requests, mooncake, prices, rows, shapes, table  # noqa: E402
from racs.core.prices import PriceBook  # noqa: E402
from racs.replay.run import replay  # noqa: E402
from racs.traffic.problems import Problems  # noqa: E402
from racs.traffic.sources import read  # noqa: E402

STRATEGIES = ("5m", "1h", "learned")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--no-mooncake", action="store_true", help="skip the Mooncake trace")
    args = parser.parse_args()
    start = time.process_time()
    suite = replay(all_requests(shapes()), strategies=STRATEGIES, prices=prices())
    print("## Regret suite\n")
    print(table(rows(suite)))
    corpus = args.shared / "traffic" / "claude-code"
    if corpus.exists():
        shared = replay(read([corpus], Problems()), strategies=STRATEGIES, prices=PriceBook())
        print("\n## Shared Claude Code transcripts\n")
        print(table(rows(shared)))
    trace = args.shared / "traffic" / "mooncake" / "conversation_trace.jsonl"
    if trace.exists() and not args.no_mooncake:
        result = replay(mooncake(trace), strategies=STRATEGIES, prices=prices())
        lines = table(rows(result)).splitlines()
        print(f"\n## Mooncake conversations ({result.stream_count} streams, ", end="")
        print(f"{result.requests} requests; totals only)\n")
        print("\n".join(lines[:2] + [line for line in lines if line.startswith("| total")]))
    print(f"\n{time.process_time() - start:.1f} s of CPU")


if __name__ == "__main__":
    main()
