"""`racs statusline` on a generated 10 MB session: cold, warm and after growth. Prints figures.

    python bench/statusline_bench.py               # 10 MB, 7 runs each
    python bench/statusline_bench.py --size 40 --repeat 11

The session is built in a temporary folder laid out as Claude Code's
(``DIR/projects/<project>/<session>.jsonl``) by repeating the lines of the shared real
transcripts (../shared/traffic/claude-code) with fresh message and request ids and
timestamps moved on, copy after copy, so it reads as one long session; a second project
holds the other shared sessions (today's cost reads them too). Each run is the command as
Claude Code runs it, in a child process, with the status JSON on stdin:

- cold: no read cache (the first status line of a session);
- warm: the cache is current (nothing changed since the last line);
- growth: one response appended before each run (the line after each turn).

Wall and CPU time (the child's) are printed per case with the median, then the same three
cases in process (``status()`` only, without the interpreter's start). The children run
with bytecode caching on (in a temporary prefix), as an installed racs runs. Target (issue 24):
under 100 ms on a 10 MB session. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "traffic" / "claude-code"
SRC = Path(__file__).resolve().parents[1] / "src"
_IDS = re.compile(rb'"(msg_[0-9A-Za-z]+|req_[0-9A-Za-z]+)"')
_STAMP = re.compile(rb'"timestamp":"([0-9T:.\-]+)Z"')
SOURCE = "fa812bfe-b295-4cca-9c2f-fdf01028cb46.jsonl"


def _shift(data: bytes, delta: timedelta, tag: bytes) -> bytes:
    def stamp(m: re.Match[bytes]) -> bytes:
        moment = datetime.fromisoformat(m.group(1).decode()) + delta
        return b'"timestamp":"' + moment.isoformat(timespec="milliseconds").encode() + b'Z"'

    def renamed(m: re.Match[bytes]) -> bytes:
        return b'"' + m.group(1)[:-6] + tag + b'"'

    return _IDS.sub(renamed, _STAMP.sub(stamp, data))


def _span(data: bytes) -> tuple[datetime, datetime]:
    stamps = [datetime.fromisoformat(m.group(1).decode()) for m in _STAMP.finditer(data)]
    return min(stamps), max(stamps)


def generate(root: Path, size_mb: int) -> tuple[Path, datetime]:
    """One session of about ``size_mb`` MB under ``root/projects/p``; returns it and the
    time of its last line."""
    data = (SHARED / SOURCE).read_bytes()
    first, last = _span(data)
    step = last - first + timedelta(minutes=1)
    session = root / "projects" / "-home-user-p" / "bench-session.jsonl"
    session.parent.mkdir(parents=True)
    copies = max(1, round(size_mb * 1_000_000 / len(data)))
    with session.open("wb") as f:
        for i in range(copies):
            f.write(_shift(data, step * i, f"{i:06d}".encode()))
    other = root / "projects" / "-home-user-q"
    other.mkdir()
    for p in sorted(SHARED.glob("*.jsonl")):
        if p.name != SOURCE:
            (other / p.name).write_bytes(p.read_bytes())
    return session, last + step * (copies - 1)


def _run(cmd: list[str], stdin: bytes, env: dict[str, str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, input=stdin, capture_output=True, env=env, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall * 1000, cpu * 1000, out.stdout.decode().strip()


def _appended(session: Path, n: int) -> bytes:
    """A copy of the session's last response under new ids (one more turn)."""
    with session.open("rb") as f:
        f.seek(max(0, session.stat().st_size - 2_000_000))
        lines = [x for x in f.read().splitlines() if b'"type":"assistant"' in x]
    return _shift(lines[-1], timedelta(seconds=n), f"g{n:05d}".encode()) + b"\n"


def main() -> None:
    """Build the session, run the three cases, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10, help="session size in MB")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="racs-statusline-") as tmp:
        root = Path(tmp)
        session, last = generate(root, args.size)
        now = (last + timedelta(minutes=2)).replace(tzinfo=UTC).isoformat()
        cache = root / "cache.json"
        stdin = json.dumps(
            {
                "session_id": session.stem,
                "transcript_path": str(session),
                "model": {"id": "claude-opus-4-6", "display_name": "Opus 4.6"},
            }
        ).encode()
        # Bytecode as an installed racs has it (compiled once, into a prefix of the
        # temporary folder: nothing is written into the checkout), whatever this shell says.
        env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONPYCACHEPREFIX": str(root / "pyc")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        cmd = [sys.executable, "-m", "racs.cli", "statusline", "--cache", str(cache), "--now", now]
        subprocess.run(cmd, input=stdin, capture_output=True, env=env, check=True)  # compiles
        print(f"session {session.stat().st_size / 1e6:.1f} MB, {args.repeat} runs per case")
        results: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": [], "growth": []}
        line = ""
        for i in range(args.repeat):
            cache.unlink(missing_ok=True)
            wall, cpu, line = _run(cmd, stdin, env)
            results["cold"].append((wall, cpu))
            results["warm"].append(_run(cmd, stdin, env)[:2])
            with session.open("ab") as f:
                f.write(_appended(session, i + 1))
            results["growth"].append(_run(cmd, stdin, env)[:2])
        print(f"line: {line}")
        for case, runs in results.items():
            walls = ", ".join(f"{w:.0f}" for w, _ in runs)
            print(
                f"{case:>7}: median wall {statistics.median(w for w, _ in runs):6.1f} ms, "
                f"cpu {statistics.median(c for _, c in runs):6.1f} ms  (wall: {walls})"
            )
        _in_process(session, stdin, now, cache, args.repeat)


def _in_process(session: Path, stdin: bytes, now: str, cache: Path, repeat: int) -> None:
    sys.path.insert(0, str(SRC))
    from racs.report.statusline import parse_input, status

    given = parse_input(stdin.decode())
    assert given is not None
    now_ms = datetime.fromisoformat(now).timestamp() * 1000
    cases: dict[str, list[float]] = {"cold": [], "warm": [], "growth": []}
    for i in range(repeat):
        cache.unlink(missing_ok=True)
        for case in ("cold", "warm", "growth"):
            if case == "growth":
                with session.open("ab") as f:
                    f.write(_appended(session, 1000 + i))
            t0 = time.perf_counter()
            status(given, now_ms=now_ms, cache_file=cache)
            cases[case].append((time.perf_counter() - t0) * 1000)
    print("in process (status() only, modules already loaded after the first run):")
    for case, ms in cases.items():
        print(f"{case:>7}: median {statistics.median(ms):6.1f} ms")


if __name__ == "__main__":
    main()
