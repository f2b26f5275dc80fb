"""``racs serve``: parse the flags, refuse unsafe binds, run uvicorn, exit 0 on a signal."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import math
import os
import signal
import sys
from collections.abc import Generator, Sequence
from typing import Any, NoReturn

import uvicorn

from racs.core.errors import RacsError
from racs.core.keys import KEY_SCHEMES
from racs.core.targets import parse_target
from racs.server.guard import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEP_ALIVE,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MIN_BODY_RATE,
    Limits,
    uvicorn_settings,
)
from racs.server.persist import DEFAULT_SAVE_INTERVAL, StateSaver
from racs.state.shared import shared_backend

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
    p.add_argument(
        "--state",
        default=None,
        metavar="PATH|URL",
        help="engine snapshot file, or a redis:// URL to share one state with other replicas",
    )
    p.add_argument(
        "--state-prefix",
        default="racs:",
        metavar="PREFIX",
        help="key prefix of the shared state on Redis (default racs:)",
    )
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
    p.add_argument(
        "--key-scheme",
        choices=KEY_SCHEMES,
        default="blake2b",
        help="prefix key hashing (fnv1a64 matches @takk/racs keys; default blake2b)",
    )
    p.add_argument(
        "--save-interval",
        type=float,
        default=DEFAULT_SAVE_INTERVAL,
        metavar="SEC",
        help=f"seconds between state saves with --state (default {DEFAULT_SAVE_INTERVAL:g})",
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="SEC",
        help=f"seconds a client has to send its request headers (default "
        f"{DEFAULT_HEADER_TIMEOUT:g})",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        default=DEFAULT_BODY_TIMEOUT,
        metavar="SEC",
        help=f"seconds a request body may take beyond what --min-body-rate earns it "
        f"(default {DEFAULT_BODY_TIMEOUT:g}); a slower body is answered 408",
    )
    p.add_argument(
        "--min-body-rate",
        type=int,
        default=DEFAULT_MIN_BODY_RATE,
        metavar="BYTES",
        help=f"each this many body bytes earn one more second (default "
        f"{DEFAULT_MIN_BODY_RATE} bytes/s)",
    )
    p.add_argument(
        "--keep-alive",
        type=int,
        default=DEFAULT_KEEP_ALIVE,
        metavar="SEC",
        help=f"seconds an idle connection stays open (default {DEFAULT_KEEP_ALIVE})",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help=f"open connections at most; a new one closes the one waiting longest for its "
        f"request (idle or trickling) "
        f"(default {DEFAULT_MAX_CONNECTIONS}, lowered to fit the file descriptor limit)",
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
    problem = _check_numbers(args)
    if problem is not None:
        sys.stderr.write(f"racs serve: {problem}\n")
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
        engine, ledger, state = _open(args)
    except RacsError as exc:
        sys.stderr.write(f"racs serve: {exc.message}\n")
        return 2
    limits = Limits(
        args.header_timeout,
        args.keep_alive,
        args.max_connections,
        body_timeout=args.body_timeout,
        min_body_rate=args.min_body_rate,
    )
    # A shared (Redis) state keeps every entry as it changes and numbers plans with an
    # atomic counter: there is no snapshot to save periodically.
    snapshots = state is not None and shared_backend(state) is None
    saver = StateSaver(engine, state, args.save_interval) if snapshots else None
    return _serve(engine, ledger, args, token, limits, saver)


def _check_numbers(args: argparse.Namespace) -> str | None:
    """The first out-of-range numeric flag, as a message (None when all are fine)."""
    if not 0 <= args.port <= 65535:
        return f"--port must be 0-65535, got {args.port}"
    for flag, value in (
        ("--save-interval", args.save_interval),
        ("--header-timeout", args.header_timeout),
        ("--body-timeout", args.body_timeout),
    ):
        if not math.isfinite(value) or not 0.01 <= value <= 86_400:
            return f"{flag} must be 0.01-86400 seconds, got {value}"
    if not 1 <= args.keep_alive <= 3600:
        return f"--keep-alive must be 1-3600 seconds, got {args.keep_alive}"
    if not 1 <= args.min_body_rate <= 1_000_000_000:
        return f"--min-body-rate must be 1-1000000000 bytes/s, got {args.min_body_rate}"
    if not 1 <= args.max_connections <= 1_000_000:
        return f"--max-connections must be 1-1000000, got {args.max_connections}"
    return None


def _open(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The engine (with its snapshot restored), the ledger and the state backend."""
    from racs.engine import create_racs
    from racs.state import file_state, redis_state

    ledger = None
    if args.ledger:
        from racs.ledger import create_ledger

        ledger = create_ledger(args.ledger)
    try:
        state: Any = None
        if args.state and parse_target(args.state, "state").kind == "redis":
            state = redis_state(args.state, prefix=args.state_prefix)
        elif args.state:
            state = file_state(args.state)
        engine = create_racs(
            seed=args.seed,
            state=state,
            ledger=ledger,
            key_scheme=args.key_scheme,
            reuse_policy="learned" if args.learn else "reference",
        )
    except BaseException:
        if ledger is not None:
            ledger.close()
        raise
    return engine, ledger, state


def _serve(
    engine: Any,
    ledger: Any,
    args: argparse.Namespace,
    token: str | None,
    limits: Limits,
    saver: StateSaver | None,
) -> int:
    from racs.server.app import close_all, create_app

    app = create_app(engine, ledger, token=token, cors_origin=args.cors_origin, saver=saver)
    config = uvicorn.Config(
        app,
        host=args.host.strip("[]"),
        port=args.port,
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        **uvicorn_settings(limits),
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
            try:
                close_all(engine, ledger)
            except Exception as exc:
                app.state.shutdown_failed = True
                sys.stderr.write(f"racs serve: closing failed: {exc}\n")
    if app.state.shutdown_failed:
        sys.stderr.write("racs serve: the final state save failed; see the log above\n")
        return 1
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
