"""`racs models`: the model catalog with its dates and sources, or one model's profile."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from racs.cli.app import EXIT_OK, CliError
from racs.core.catalog import Catalog, CatalogEntry, default_catalog, load_catalog
from racs.core.facts import PROVIDERS
from racs.core.model import camel
from racs.core.prices import PriceBook
from racs.core.text import table
from racs.core.tiers import seconds_of
from racs.engine import Racs, create_racs

_EXAMPLES = """\
examples:
  racs models
  racs models --provider anthropic
  racs models --provider openai --model gpt-5.6
  racs models --catalog my-catalog.json --json
  racs models --wide

Prices are USD per million tokens for the entry's first model ("write" is its shortest
write tier) (your pricing cards win
over these in every report); "-" marks a model the bundled price database does not know.

Entries refine the provider profiles for the model ids they match (exact ids, dated
snapshots such as claude-sonnet-4-5-20250929, prefixes such as claude-opus-4-5*);
an unknown model keeps the provider profile unchanged.
"""


def register(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """Add the `models` subcommand."""
    p = commands.add_parser(
        "models",
        help="list the model catalog (per-model cache terms, dates, sources)",
        description="List the catalog entries that refine provider profiles per model, "
        "with the date their facts were checked and where they were read.",
        epilog=_EXAMPLES,
        formatter_class=formatter,
    )
    p.add_argument("--provider", choices=PROVIDERS, help="only entries for this provider")
    p.add_argument("--model", help="show the effective profile of this model (needs --provider)")
    p.add_argument("--catalog", metavar="FILE", help="extend the shipped catalog with FILE (JSON)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--wide", action="store_true", help="every match pattern and refinement (wider than 120)"
    )
    p.set_defaults(handler=run)


def _refinements(refine: dict[str, Any]) -> str:
    parts = []
    for key, value in refine.items():
        if key == "notes":
            continue
        shown = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        parts.append(f"{camel(key)}={shown}")
    return " ".join(parts)


def run(ns: argparse.Namespace) -> int:
    """Print the catalog, or the effective profile of one model."""
    catalog: Catalog = default_catalog()
    if ns.catalog:
        catalog = catalog.extended(load_catalog(ns.catalog))
    if ns.model is not None:
        if ns.provider is None:
            raise CliError("racs models --model needs --provider")
        engine = create_racs(catalog=catalog)
        profile = engine.profile_of(ns.provider, ns.model)
        entry = catalog.lookup(ns.provider, ns.model)
        if ns.json:
            out = {"profile": profile.to_dict(), "entry": entry.to_dict() if entry else None}
            sys.stdout.write(json.dumps(out, indent=2) + "\n")
            return EXIT_OK
        rows = [[k, json.dumps(v)] for k, v in profile.to_dict().items() if k != "notes"]
        sys.stdout.write(f"{ns.provider} {ns.model}\n")
        sys.stdout.write(table(["field", "value"], rows) + "\n")
        if entry is None:
            sys.stdout.write("no catalog entry: the provider profile applies unchanged\n")
        else:
            sys.stdout.write(f"refined by {entry.id} (checked {entry.checked}; {entry.source})\n")
        return EXIT_OK
    entries = [e for e in catalog.entries if ns.provider is None or ns.provider in e.providers]
    if ns.json:
        out_doc = {"checked": catalog.checked, "entries": [e.to_dict() for e in entries]}
        sys.stdout.write(json.dumps(out_doc, indent=2) + "\n")
        return EXIT_OK
    sys.stdout.write(f"model catalog, facts checked {catalog.checked}\n")
    engine = create_racs(catalog=catalog)
    book = PriceBook(profile_of=engine.profile_of)
    rows = [_row(e, engine, book, ns.wide) for e in entries]
    prices = ["in $", "read $", "write $", "1h $", "out $"]
    headers = ["entry", "model", "min", "read", "writes", *prices]
    if ns.wide:
        headers = ["entry", "providers", "models", "refines", "checked", *prices]
    sys.stdout.write(table(headers, rows) + "\n")
    if ns.wide:
        sys.stdout.write("\nsources:\n")
        for e in entries:
            sys.stdout.write(f"  {e.id}: {e.source}\n")
    else:
        sys.stdout.write("\nsources and every pattern: racs models --wide\n")
    return EXIT_OK


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def _row(entry: CatalogEntry, engine: Racs, book: PriceBook, wide: bool) -> list[Any]:
    """One catalog row: cache terms of the entry's first model beside its prices."""
    provider = entry.providers[0]
    model = entry.match[0].rstrip("*")
    profile = engine.profile_of(provider, model)
    ttls = sorted(profile.ttls or (), key=seconds_of)
    rates = book.rates(provider, model)
    prices: list[Any] = ["-"] * 5
    if rates is not None:
        prices = [
            _price(rates.input),
            _price(rates.read),
            _price(rates.write(ttls[0])) if ttls else "-",
            _price(rates.write_1h) if "1h" in ttls else "-",
            _price(rates.output),
        ]
    if wide:
        refines = _refinements(dict(entry.refine))
        return [
            entry.id,
            ",".join(entry.providers),
            " ".join(entry.match),
            refines,
            entry.checked,
            *prices,
        ]
    writes = " ".join(
        f"{t}:{profile.write_multiplier(t)}x"
        for t in (profile.ttls or ())
        if profile.write_multiplier(t) is not None
    )
    more = f" +{len(entry.match) - 1}" if len(entry.match) > 1 else ""
    read = "-" if profile.read_multiplier is None else f"{profile.read_multiplier}x"
    return [
        _clip(entry.id, 24),
        _clip(model, 20 - len(more)) + more,
        profile.min_cacheable_tokens,
        read,
        _clip(writes or "-", 16),
        *prices,
    ]


def _price(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
