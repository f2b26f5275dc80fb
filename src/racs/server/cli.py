"""``racs serve``: parse the flags, refuse unsafe binds, run uvicorn, exit 0 on a signal."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import signal
import sys
from collections.abc import Generator, Sequence
from typing import Any, NoReturn

import uvicorn

from ..errors import RacsError

DEFAULT_PORT = 4378
DEFAULT_HOST = "127.0.0.1"


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr and exit 2."""

    def error(self, message: str) -> NoReturn:
        """Print one line and exit 2."""
        sys.stderr.write(f"racs serve: {message}\n")
        raise SystemExit(2)


def _parser() -> _Parser:
    p = _Parser(prog="racs serve", description="Serve one racs engine (and its ledger) over HTTP.")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (default 4378)")
    p.add_argument("--host", default=DEFAULT_HOST, help="bind address (default 127.0.0.1)")
    p.add_argument(
        "--token", default=None, help="bearer token every request must carry (default: $RACS_TOKEN)"
    )
    p.add_argument("--state", default=None, metavar="PATH", help="engine snapshot file")
    p.add_argument(
        "--ledger",
        default=None,
        metavar="PATH|URL",
        help="run ledger: a SQLite path or a postgresql:// URL",
    )
    p.add_argument("--seed", type=int, default=7, help="plan id seed (default 7)")
    p.add_argument(
        "--learn",
        action="store_true",
        help="learned reuse: tiers, keep-warm, lifetimes and retention from each lineage's "
        "observed gaps (rebuilt from the ledger on start)",
    )
    p.add_argument(
        "--cors-origin",
        default=None,
        metavar="ORIGIN",
        help="allow this browser origin (only together with a token)",
    )
    p.add_argument(
        "--insecure-no-token",
        action="store_true",
        help="allow a non-loopback bind without a token (dangerous)",
    )
    return p


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``racs serve`` with ``argv`` (the arguments after ``serve``); return the exit code."""
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse: --help is 0, a bad flag is 2
        return exc.code if isinstance(exc.code, int) else 2
    if not 0 <= args.port <= 65535:
        sys.stderr.write(f"racs serve: --port must be 0-65535, got {args.port}\n")
        return 2
    token: str | None = args.token or os.environ.get("RACS_TOKEN") or None
    if not is_loopback(args.host) and token is None:
        if not args.insecure_no_token:
            sys.stderr.write(
                f"racs serve: refusing to bind {args.host} without --token "
                "(set a token, bind 127.0.0.1, or pass --insecure-no-token)\n"
            )
            return 1
        sys.stderr.write(
            f"racs serve: WARNING: serving on {args.host} WITHOUT A TOKEN: anyone who can reach "
            "this port can read and change the engine's state. Use --token.\n"
        )
    if args.cors_origin and token is None:
        sys.stderr.write("racs serve: --cors-origin is ignored without a token\n")
    try:
        engine, ledger = _open(args)
    except RacsError as exc:
        sys.stderr.write(f"racs serve: {exc.message}\n")
        return 2
    return _serve(engine, ledger, args.host, args.port, token, args.cors_origin)


def _open(args: argparse.Namespace) -> tuple[Any, Any]:
    """The engine (with its snapshot restored) and the ledger the flags ask for."""
    from .. import create_racs, file_state

    ledger = None
    if args.ledger:
        from ..ledger import create_ledger

        target: str = args.ledger
        ledger = create_ledger(url=target) if "://" in target else create_ledger(target)
    try:
        state = file_state(args.state) if args.state else None
        engine = create_racs(
            seed=args.seed,
            state=state,
            ledger=ledger,
            reuse_policy="learned" if args.learn else "reference",
        )
    except BaseException:
        if ledger is not None:
            ledger.close()
        raise
    return engine, ledger


def _serve(
    engine: Any, ledger: Any, host: str, port: int, token: str | None, cors_origin: str | None
) -> int:
    from .app import close_all, create_app

    app = create_app(engine, ledger, token=token, cors_origin=cors_origin)
    config = uvicorn.Config(
        app,
        host=host.strip("[]"),
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits 1 when it cannot bind
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        # The lifespan shutdown normally closed both; this covers a failed startup.
        if not app.state.closed:
            app.state.closed = True
            close_all(engine, ledger)
    return 0 if server.started else 1


class _Server(uvicorn.Server):
    """uvicorn's Server, except that a SIGINT/SIGTERM ends ``run`` normally (exit 0).

    uvicorn re-raises the captured signal after its graceful shutdown, which would end
    the process with the signal's status instead of the 0 the spec asks for.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Route SIGINT/SIGTERM to a graceful shutdown; restore the old handlers after."""
        previous = {
            sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
