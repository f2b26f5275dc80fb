"""Read the import graph of ``src/racs`` and check it against the layers (no racs import).

Kept apart from the test so it can be pointed at another checkout (an older one) too:
``python tests/architecture/layers.py PATH/TO/src``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("planning", "learning", "providers"),
    ("ledger", "state"),
    ("engine",),
    ("traffic",),
    ("replay", "simulate"),
    ("report", "integrations"),
    ("cli", "server", "testing"),
)
"""Rooms from the bottom up: a room imports only from rooms below it or its own layer."""
TOP: tuple[str, ...] = ("__init__", "_aliases")
"""The package's own surface: may import anything, imported by nobody inside racs."""


@dataclass(frozen=True)
class Import:
    """One import statement of a racs module naming another racs module."""

    module: str
    """Importing module, dotted (``racs.report.walk``)."""
    target: str
    """Imported module, dotted (``racs.cli.render``)."""
    names: tuple[str, ...]
    """Names taken with ``from ... import``."""
    line: int


def modules(src: Path) -> Iterator[tuple[str, Path]]:
    """Every module under ``src/racs`` with its dotted name."""
    for path in sorted((src / "racs").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def imports(src: Path) -> Iterator[Import]:
    """Every import of a racs module by a racs module (relative ones resolved)."""
    for name, path in modules(src):
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                if target == "racs" or target.startswith("racs."):
                    names = tuple(a.name for a in node.names)
                    # ``from racs.x import y`` may name a submodule: count it as one.
                    for n in names:
                        sub = f"{target}.{n}"
                        if (src / Path(*sub.split("."))).with_suffix(".py").exists() or (
                            src / Path(*sub.split("."))
                        ).is_dir():
                            yield Import(name, sub, (), node.lineno)
                    yield Import(name, target, names, node.lineno)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "racs" or alias.name.startswith("racs."):
                        yield Import(name, alias.name, (), node.lineno)


def room(module: str) -> str:
    """The room (top-level package or module under racs) a dotted name belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(room_name: str) -> int | None:
    """Index of the room's layer (``None``: the package surface or an unknown room)."""
    for i, rooms in enumerate(LAYERS):
        if room_name in rooms:
            return i
    return None


def violations(src: Path) -> list[str]:
    """Every import running up a layer, into an unknown room, or at a private name."""
    found = []
    known = {r for rooms in LAYERS for r in rooms}
    for name, _ in modules(src):
        r = room(name)
        if r not in known and r not in TOP:
            found.append(f"{name}: room {r!r} is in no layer")
    for imp in imports(src):
        src_room, dst_room = room(imp.module), room(imp.target)
        where = f"{imp.module}:{imp.line}"
        if src_room in TOP:
            continue
        if dst_room in TOP and imp.target != "racs":
            found.append(f"{where} imports the package surface {imp.target}")
            continue
        if imp.target == "racs":
            if any(n != "__version__" for n in imp.names):
                found.append(f"{where} imports from the package surface: {imp.names}")
            continue
        a, b = layer_of(src_room), layer_of(dst_room)
        if a is not None and b is not None and b > a:
            found.append(f"{where} imports {imp.target} (layer {b}) from layer {a}")
        own_package = imp.target.startswith(imp.module.rpartition(".")[0] + ".")
        last = imp.target.rpartition(".")[2]
        if _private(last) and not own_package:
            found.append(f"{where} imports private module {imp.target}")
        found.extend(
            f"{where} imports private name {n} from {imp.target}" for n in imp.names if _private(n)
        )
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_make"})
"""Named tuples' public methods, underscored only to stay out of the field namespace."""


def foreign_private_attributes(src: Path) -> list[str]:
    """Reads or writes of another object's ``_name`` (anything but ``self``/``cls``)."""
    found = []
    for name, path in modules(src):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute):
                continue
            attr = node.attr
            if not _private(attr) or attr in NAMEDTUPLE_API:
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and getattr(owner.func, "id", None) == "super":
                continue
            found.append(f"{name}:{node.lineno} touches .{attr}")
    return found


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[2] / "src"
    for line in [*violations(root), *foreign_private_attributes(root)]:
        print(line)
