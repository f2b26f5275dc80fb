"""The chunked line scanner finds exactly the lines a line-by-line reader would."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racs.traffic.lines import lines_containing
from racs.traffic.problems import Problems

NEEDLE = b'"usage"'
MAX = 64


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.tuples(st.booleans(), st.one_of(st.integers(0, MAX - 10), st.integers(MAX + 16, 200))),
        max_size=30,
    ),
    chunk=st.integers(1, 16),
    last_newline=st.booleans(),
)
def test_same_lines_as_reading_line_by_line(
    tmp_path: Path, lines: list[tuple[bool, int]], chunk: int, last_newline: bool
) -> None:
    """Lines under the limit holding the needle come out with their numbers; lines at
    least a chunk over the limit are skipped and named; nothing else is reported."""
    raw = [(NEEDLE if has else b"") + b"x" * size for has, size in lines]
    data = b"\n".join(raw) + (b"\n" if last_newline and raw else b"")
    f = tmp_path / "t.jsonl"
    f.write_bytes(data)
    problems = Problems()
    got = list(lines_containing(f, NEEDLE, problems, max_line=MAX, chunk_size=chunk))
    ends = [b"\n"] * len(raw)
    if raw and not last_newline:
        ends[-1] = b""
    expected = [
        (i + 1, line + end)
        for i, (line, end) in enumerate(zip(raw, ends, strict=True))
        if NEEDLE in line and len(line) < MAX
    ]
    assert got == expected
    long_lines = [f"{f}:{i + 1}" for i, line in enumerate(raw) if len(line) >= MAX]
    assert [p.where for p in problems.examples] == long_lines
