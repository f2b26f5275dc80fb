"""What a traffic command reads and keeps: the filters, the time zone and the width, shared
by `racs report`, `racs blocks` and `racs replay`."""

from __future__ import annotations

import argparse
from datetime import datetime, tzinfo

from racs.cli.app import CliError
from racs.report.build import Filters
from racs.report.periods import local_zone, zone_named


def iso_when(text: str) -> str:
    """An argparse type: ``text`` when it is an ISO date or date-time."""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO date or time, got {text!r}") from None
    return text


def add_filters(p: argparse.ArgumentParser, *, zones: bool = True) -> None:
    """``--since/--until/--project/--session/--model`` (and, with ``zones``, the zone)."""
    p.add_argument(
        "--since", type=iso_when, metavar="WHEN", help="from this ISO date/time (in the zone)"
    )
    p.add_argument(
        "--until", type=iso_when, metavar="WHEN", help="before this ISO date/time (in the zone)"
    )
    p.add_argument("--project", metavar="TEXT", help="projects containing TEXT")
    p.add_argument("--session", metavar="ID", help="sessions whose id starts with ID")
    p.add_argument("--model", metavar="TEXT", help="models containing TEXT")
    if zones:
        group = p.add_mutually_exclusive_group()
        group.add_argument(
            "-z",
            "--timezone",
            metavar="ZONE",
            help="IANA time zone of days, weeks, months, blocks and printed times "
            "(default: the local zone)",
        )
        group.add_argument("--utc", action="store_true", help="use UTC (same as -z UTC)")


def zone_of(ns: argparse.Namespace) -> tzinfo:
    """The zone the flags ask for (default: the machine's)."""
    if getattr(ns, "utc", False):
        return zone_named("UTC")
    name = getattr(ns, "timezone", None)
    if name:
        try:
            return zone_named(name)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    return local_zone()


def moment_ms(text: str | None, zone: tzinfo) -> float | None:
    """An ISO date or time as ms since the epoch (``zone`` when it names no offset)."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp() * 1000


def filters_of(ns: argparse.Namespace, zone: tzinfo) -> Filters:
    """The filters of the flags; a date or time without an offset is in ``zone``."""
    return Filters(
        moment_ms(ns.since, zone), moment_ms(ns.until, zone), ns.project, ns.session, ns.model
    )


def excluded(read: int, ns: argparse.Namespace, also: str = "") -> CliError:
    """The error (exit 2) for ``read`` requests of which the filters kept none."""
    flags = [
        f"--{name} {value}"
        for name in ("since", "until", "project", "session", "model")
        if (value := getattr(ns, name, None)) is not None
    ]
    if also:
        flags.append(also)
    by = " and ".join(flags) or "the filters"
    return CliError(f"{read:,} requests read, all excluded by {by}")
