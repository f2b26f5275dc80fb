"""`racs report` against ccusage 19.0.3 on the same generated folders. Prints figures.

    python bench/report_bench.py                  # 10 MB and 200 MB folders, 3 runs each
    python bench/report_bench.py --sizes 200 --repeat 5
    python bench/report_bench.py --same-ids       # copies keep their message/request ids

Each folder is laid out as Claude Code's (``DIR/projects/<project>/<session>.jsonl`` with
subagents) from the shared real transcripts, each copy under fresh session ids and, unless
``--same-ids``, fresh message and request ids too (distinct sessions: every copy is billed;
with ``--same-ids`` the copies are what a resumed session leaves, counted once by both
tools). Both tools run as a user runs them, end to end in a child process: ``racs report
DIR/projects --json`` and, when installed (see ../shared/PEERS.md; default
/tmp/ccusage), ``CLAUDE_CONFIG_DIR=DIR bun ccusage daily --offline --json``. Wall time,
CPU time and the peak RSS of the largest process of the tree (``wait4``) are printed, with
the medians, MB/s and the ratio; then `racs --version` and `import racs`. Targets (issue
24): racs at least as fast as ccusage on ~200 MB, within 2x on 10 MB, peak RSS < 150 MB,
`racs --version` < 100 ms, `import racs` < 50 ms. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "traffic" / "claude-code"
SRC = Path(__file__).resolve().parents[1] / "src"
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_IDS = re.compile(rb'"(msg_[0-9A-Za-z]+|req_[0-9A-Za-z]+)"')


def _generate(target: Path, size_mb: int, same_ids: bool) -> int:
    """Copies of the shared sessions (fresh session ids) until ``size_mb`` is reached."""
    sessions = sorted(SHARED.glob("*.jsonl"))
    written = 0
    copy = 0
    while written < size_mb * 1_000_000:
        project = target / f"-home-user-project-{copy % 20}"
        for main in sessions:
            new_id = str(uuid.UUID(int=copy * 1000 + sessions.index(main) + 1)).encode()
            mapping: dict[bytes, bytes] = {main.stem.encode(): new_id}
            data = main.read_bytes()
            first = _UUID.search(data[data.find(b'"sessionId"') :])
            if first is not None:
                mapping[first.group(0)] = new_id
            tag = f"{copy:06d}".encode()

            def fresh(m: re.Match[bytes], mapping: dict[bytes, bytes] = mapping) -> bytes:
                # Session ids get the copy's id; other uuids stay (they only name lines).
                return mapping.get(m.group(0), m.group(0))

            def renamed(m: re.Match[bytes], tag: bytes = tag) -> bytes:
                return b'"' + m.group(1)[:-6] + tag + b'"'  # same length, distinct per copy

            def rewrite(raw: bytes) -> bytes:
                out = _UUID.sub(fresh, raw)
                return out if same_ids else _IDS.sub(renamed, out)

            project.mkdir(parents=True, exist_ok=True)
            out = project / f"{new_id.decode()}.jsonl"
            out.write_bytes(rewrite(data))
            written += out.stat().st_size
            subdir = main.with_suffix("") / "subagents"
            if subdir.is_dir():
                dest = project / new_id.decode() / "subagents"
                dest.mkdir(parents=True, exist_ok=True)
                for sub in subdir.glob("*.jsonl"):
                    (dest / sub.name).write_bytes(rewrite(sub.read_bytes()))
                    written += sub.stat().st_size
        copy += 1
    return written


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB of the largest process of the tree) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}): {err[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _median_line(label: str, runs: list[tuple[float, float, float]], mb: float) -> float:
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    rss = max(r[2] for r in runs)
    print(
        f"  {label:<8} median {wall:6.2f} s wall ({mb / wall:6.0f} MB/s), {cpu:6.2f} s CPU, "
        f"peak RSS {rss:5.0f} MB   runs: {', '.join(f'{r[0]:.2f}' for r in runs)}"
    )
    return wall


def _python_env(pyc: Path) -> dict[str, str]:
    """The environment of an installed racs: bytecode cached (in ``pyc``, not the tree),
    whatever this shell says (some set PYTHONDONTWRITEBYTECODE, which recompiles every
    module of racs on every run)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONPYCACHEPREFIX": str(pyc)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _compare(
    folder: Path, mb: float, repeat: int, ccusage: Path | None, env: dict[str, str]
) -> None:
    racs = [sys.executable, "-m", "racs.cli", "report", str(folder / "projects"), "--json"]
    _run(racs, env)  # warm-up, not counted: bytecode, the price cache, the page cache
    runs = {"racs": [_run(racs, env) for _ in range(repeat)]}
    if ccusage is not None:
        bun = ccusage / "node_modules" / ".bin" / "bun"
        script = ccusage / "node_modules" / "ccusage" / "dist" / "index.js"
        cc_env = {**os.environ, "CLAUDE_CONFIG_DIR": str(folder)}
        argv = [str(bun), str(script), "daily", "--offline", "--json"]
        _run(argv, cc_env)  # warm-up, not counted, as for racs
        runs["ccusage"] = [_run(argv, cc_env) for _ in range(repeat)]
    walls = {name: _median_line(name, r, mb) for name, r in runs.items()}
    if "ccusage" in walls:
        ratio = walls["racs"] / walls["ccusage"]
        print(f"  racs / ccusage: {ratio:.2f}x the time")


def _startup(repeat: int, env: dict[str, str]) -> None:
    py = sys.executable
    _run([py, "-m", "racs.cli", "--version"], env)  # warm-up: bytecode
    base = [_run([py, "-c", "pass"], env)[0] for _ in range(repeat)]
    version = [_run([py, "-m", "racs.cli", "--version"], env)[0] for _ in range(repeat)]
    imp = [_run([py, "-c", "import racs"], env)[0] for _ in range(repeat)]
    print(
        f"racs --version: median {statistics.median(version) * 1000:.0f} ms; import racs: "
        f"median {statistics.median(imp) * 1000:.0f} ms (python alone "
        f"{statistics.median(base) * 1000:.0f} ms)"
    )


def main() -> None:
    """Generate each folder, run both tools on it, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 200], metavar="MB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--same-ids", action="store_true")
    parser.add_argument("--ccusage", type=Path, default=Path("/tmp/ccusage"))
    ns = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"no shared transcripts at {SHARED}")
    installed = (ns.ccusage / "node_modules" / "ccusage" / "dist" / "index.js").is_file()
    ccusage = ns.ccusage if installed else None
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores; ccusage: "
        f"{'19.0.3 under bun at ' + str(ns.ccusage) if ccusage else 'not installed (skipped)'}"
    )
    pyc = Path(tempfile.mkdtemp(prefix="racs-report-bench-pyc-"))
    env = _python_env(pyc)
    try:
        for size in ns.sizes:
            tmp = Path(tempfile.mkdtemp(prefix="racs-report-bench-"))
            try:
                made = _generate(tmp / "projects", size, ns.same_ids)
                kind = "copies, same ids" if ns.same_ids else "distinct sessions"
                print(f"{made / 1e6:,.0f} MB folder ({kind}):")
                _compare(tmp, made / 1e6, ns.repeat, ccusage, env)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        _startup(max(ns.repeat, 5), env)
    finally:
        shutil.rmtree(pyc, ignore_errors=True)


if __name__ == "__main__":
    main()
