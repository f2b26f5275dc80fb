"""`racs models`: the model catalog with its dates and sources, or one model's profile."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from ..catalog import Catalog, default_catalog, load_catalog
from ..engine import create_racs
from ..model import PROVIDERS, camel
from .app import EXIT_OK, CliError
from .render import table

_EXAMPLES = """\
examples:
  racs models
  racs models --provider anthropic
  racs models --provider openai --model gpt-5.6
  racs models --catalog my-catalog.json --json

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
    rows = [
        [e.id, ",".join(e.providers), " ".join(e.match), _refinements(dict(e.refine)), e.checked]
        for e in entries
    ]
    sys.stdout.write(table(["entry", "providers", "models", "refines", "checked"], rows) + "\n")
    sys.stdout.write("\nsources:\n")
    for e in entries:
        sys.stdout.write(f"  {e.id}: {e.source}\n")
    return EXIT_OK
