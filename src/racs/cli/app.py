"""The `racs` command: argparse wiring, dispatch, and the one error-to-exit-code table."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Final, NoReturn

from racs import __version__
from racs.core.errors import (
    ERR_CLOSED,
    ERR_CONFLICT,
    ERR_INVALID_INPUT,
    ERR_NOT_FOUND,
    ERR_STATE_IO,
    ERR_STATE_VERSION,
    ERR_STORAGE,
    RacsError,
)

EXIT_OK: Final = 0
EXIT_GATE: Final = 1
"""A gate failed: error-severity findings, a broken ledger chain."""
EXIT_USAGE: Final = 2
"""Bad flag or value, unreadable or invalid file."""

EXIT_CODES: Final = {
    ERR_INVALID_INPUT: EXIT_USAGE,
    ERR_STATE_VERSION: EXIT_USAGE,
    ERR_STATE_IO: EXIT_USAGE,
    ERR_NOT_FOUND: EXIT_USAGE,
    ERR_CONFLICT: EXIT_USAGE,
    ERR_STORAGE: EXIT_USAGE,
    ERR_CLOSED: EXIT_USAGE,
}
"""Every RacsError code the CLI can meet, and the exit code it becomes."""


class CliError(Exception):
    """A usage problem the user can fix; printed as one line, exit 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit 2."""

    def error(self, message: str) -> NoReturn:
        """Print a one-line reason naming the command, then exit 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


Handler = Callable[[argparse.Namespace], int]

_DESCRIPTION = """\
racs plans prompt caches for LLM agents and keeps an immutable run ledger.
Run 'racs COMMAND --help' for the flags and examples of each command.
"""

_EPILOG = """\
exit codes: 0 success, 1 a gate failed (error findings, broken ledger chain),
2 usage error (bad flag or value, unreadable or invalid file).

examples:
  racs report ~/.claude/projects
  racs analyze --input prompts.json
  racs simulate --calls 400 --interval 60 --provider anthropic
  racs inspect --state ~/.racs/state.json --watch
  racs ledger stats --workspace simulate
  racs models --provider anthropic
  racs help simulate
"""


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30)


COMMANDS: Final = (
    "analyze",
    "simulate",
    "inspect",
    "ledger",
    "models",
    "report",
    "ingest",
    "replay",
    "blocks",
    "statusline",
)
"""The subcommands, each a module of ``racs.cli`` with ``register``, in help order."""


def build_parser(only: str | None = None) -> Parser:
    """The argument parser: every subcommand, or only ``only`` (so a command imports
    just its own module and what that needs)."""
    import importlib

    parser = Parser(
        prog="racs",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=_formatter,
    )
    parser.add_argument("-v", "--version", action="version", version=__version__)
    parser.add_argument(
        "--debug", action="store_true", help="show the Python traceback of a failure"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS if only is None else (only,):
        importlib.import_module(f"racs.cli.{name}").register(commands, _formatter)
    commands.add_parser(
        "serve",
        help="the HTTP service (needs the server extra: pip install 'racs[server]')",
        add_help=False,
        formatter_class=_formatter,
    )
    return parser


def _serve(argv: Sequence[str]) -> int:
    """Hand `racs serve ...` to the server package, which owns its flags."""
    try:
        from racs.server.cli import main as serve_main
    except ImportError as exc:
        print(
            f"racs serve: the HTTP service is not installed ({exc.name or exc}); "
            "install it with: pip install 'racs[server]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return int(serve_main(list(argv)))


def run(argv: Sequence[str]) -> int:
    """Parse ``argv`` and run the command; errors propagate to ``main``."""
    args = list(argv)
    debug = "--debug" in args[: args.index("serve")] if "serve" in args else False
    head = [a for a in args if a != "--debug"] if debug else args
    # The reference's words: `racs help [COMMAND]` and `racs version`.
    if head[:1] == ["version"] and len(head) == 1:
        args = head = ["--version"]
    elif head[:1] == ["help"]:
        args = head = [*head[1:], "--help"]
    if head and head[0] == "serve":
        return _serve(head[1:])
    if head in (["--version"], ["-v"]):
        # Answered before any command module loads: `racs --version` stays instant.
        sys.stdout.write(f"{__version__}\n")  # bare, as the reference prints it
        return EXIT_OK
    first = next((a for a in head if not a.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS and first == head[0] else None)
    ns = parser.parse_args(args)
    handler: Handler | None = getattr(ns, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE if ns.command is None and args else EXIT_OK
    return handler(ns)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `racs` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        return run(args)
    except KeyboardInterrupt:
        print("racs: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: nothing left to say to it.
        sys.stderr.close()
        return EXIT_OK
    except (CliError, RacsError, OSError, ValueError, json.JSONDecodeError) as exc:
        if debug:
            raise
        code = EXIT_CODES.get(exc.code, EXIT_USAGE) if isinstance(exc, RacsError) else EXIT_USAGE
        message = exc.message if isinstance(exc, RacsError) else str(exc)
        print(f"racs: {_one_line(message)}", file=sys.stderr)
        return code
