"""The README's quickstart runs as written and its two set-up commands come first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


class TestReadme:
    def test_opens_with_the_two_setup_commands(self) -> None:
        """The first block: install + run the main job, install test deps + run the suite."""
        first = re.search(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
        assert first is not None
        lines = first.group(1).strip().splitlines()
        assert lines == [
            "pip install -e '.[prices]' && racs simulate && racs report --ledger",
            "pip install -e '.[test]' && python -m pytest",
        ]

    def test_ci_runs_the_readme_test_command(self) -> None:
        """.ci/run runs exactly the README's test command."""
        ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
        assert "python -m pip install -q -e '.[test]' && python -m pytest" in ci

    def test_quickstart_runs(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The quickstart block runs unchanged and prints what its comments say."""
        namespace: dict[str, object] = {}
        exec(compile(python_blocks()[0], "README quickstart", "exec"), namespace)
        out = capsys.readouterr().out
        assert "'segmentId': 'tools'" in out and "'segmentId': 'system'" in out
        assert "'hitRatio'" in out
