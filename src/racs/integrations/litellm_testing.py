"""A real LiteLLM proxy process for tests and benches, kept off the internet.

::

    with StubServer() as stub, LiteLLMProxy(config) as proxy:
        client = openai.OpenAI(base_url=proxy.url, api_key=proxy.master_key)

The proxy runs this interpreter's LiteLLM (``litellm[proxy]``, the ``proxy`` extra) with
racs importable from where this racs lives. It reads LiteLLM's bundled model cost map
(``LITELLM_LOCAL_MODEL_COST_MAP``), and any HTTP client honouring proxy variables is sent
to a closed local port, so a request meant for the internet fails at once instead of
leaving the machine; the config's deployments should point at a local stub.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

_LAUNCH: Final = "import litellm; litellm.run_server()"
_DEAD_PROXY: Final = "http://127.0.0.1:9"
"""The discard port: nothing listens there, so a stray outbound request is refused."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiteLLMProxy:
    """Start ``litellm --config`` on a free localhost port; stop it on exit."""

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        workdir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        startup_seconds: float = 180.0,
    ) -> None:
        self.config = dict(config)
        general = self.config.setdefault("general_settings", {})
        self.master_key: str = general.setdefault("master_key", "sk-racs-test")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="litellm-"))
        self._env = dict(env or {})
        self._startup = startup_seconds
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path = self._workdir / "proxy.log"

    def start(self) -> LiteLLMProxy:
        """Write the config (JSON is valid YAML), launch, wait until the proxy answers."""
        self._workdir.mkdir(parents=True, exist_ok=True)
        config_path = self._workdir / "config.yaml"
        config_path.write_text(json.dumps(self.config, indent=2))
        args = ["--config", str(config_path), "--host", "127.0.0.1", "--port", str(self.port)]
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, *args],
            cwd=self._workdir,
            env=self._environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + self._startup
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the LiteLLM proxy exited at start:\n{self.log_tail()}")
            if self._alive():
                return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the LiteLLM proxy did not answer in time:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the proxy (its own process group: the server and any worker it forked)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the proxy printed."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> LiteLLMProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _alive(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health/liveliness", timeout=2) as answer:
                return int(answer.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        src = str(Path(__file__).resolve().parents[2])  # the directory holding racs
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        env.update(
            {
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_TELEMETRY": "False",
                "HTTP_PROXY": _DEAD_PROXY,
                "HTTPS_PROXY": _DEAD_PROXY,
                "ALL_PROXY": _DEAD_PROXY,
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
        env.update(self._env)
        return env
