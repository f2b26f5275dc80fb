"""Which runs a listing returns: ``RunFilter``, the one list of run filters.

Each field says once how it is checked and which SQL condition it becomes. The keyword
arguments of ``Ledger.query_runs`` and ``count_runs`` (and with them the HTTP query
parameters, read from those signatures) are made from these fields by ``with_run_filters``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

from racs.ledger import validate as v
from racs.ledger.model import AUTH_TYPES, EXECUTION_MODES, RUN_STATUSES, Instant
from racs.ledger.store import conditions

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")

Check = Callable[[str, object], Any]


def _rule(sql: str, check: Check | None = None) -> dict[str, Any]:
    """A filter's SQL condition (one ``?``) and how a given value is checked."""
    return {"sql": sql, "check": check}


def _choice(allowed: tuple[str, ...]) -> Check:
    return lambda name, value: v.choice(name, value, allowed)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFilter:
    """Runs whose fields all match (None: any); ``since``/``until`` bound the start time.

    Built from unchecked values (keyword arguments, query parameters): each is checked
    here, and an invalid one raises ERR_INVALID_INPUT naming it.
    """

    workspace_id: str | None = field(default=None, metadata=_rule("workspace_id = ?", v.identifier))
    agent_id: str | None = field(default=None, metadata=_rule("agent_id = ?", v.identifier))
    provider: str | None = field(default=None, metadata=_rule("provider = ?", v.identifier))
    model: str | None = field(default=None, metadata=_rule("model = ?", v.identifier))
    status: str | None = field(default=None, metadata=_rule("status = ?", _choice(RUN_STATUSES)))
    auth_type: str | None = field(
        default=None, metadata=_rule("auth_type = ?", _choice(AUTH_TYPES))
    )
    execution_mode: str | None = field(
        default=None, metadata=_rule("execution_mode = ?", _choice(EXECUTION_MODES))
    )
    auth_risk: bool | None = field(default=None, metadata=_rule("auth_risk = ?", v.flag))
    since: Instant | None = field(default=None, metadata=_rule("started_at >= ?"))
    """Inclusive, as ms since the epoch once checked."""
    until: Instant | None = field(default=None, metadata=_rule("started_at <= ?"))
    """Inclusive; a bare date covers that whole day."""

    def __post_init__(self) -> None:
        for f in _FIELDS:
            value = getattr(self, f.name)
            check = f.metadata["check"]
            if value is not None and check is not None:
                object.__setattr__(self, f.name, check(f.name, value))
        since, until = v.window(self.since, self.until)
        object.__setattr__(self, "since", since)
        object.__setattr__(self, "until", until)

    def where(self, *extra: tuple[str, Any]) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters (column names fixed here, values as
        parameters), with ``extra`` clauses appended."""
        pairs = [(f.metadata["sql"], getattr(self, f.name)) for f in _FIELDS]
        return conditions(*((sql, _param(value)) for sql, value in pairs), *extra)


def _param(value: object) -> object:
    # A flag is stored as 0 or 1 (SQLite has no boolean).
    return int(value) if isinstance(value, bool) else value


_FIELDS: Final = dataclasses.fields(RunFilter)
FILTER_NAMES: Final = frozenset(f.name for f in _FIELDS)
"""The keyword arguments ``with_run_filters`` adds."""


def with_run_filters(
    method: Callable[Concatenate[S, RunFilter, P], R],
) -> Callable[..., R]:
    """``method(self, run_filter, ...)`` offered as ``method(self, *, <RunFilter's fields>,
    ...)``: the filters are gathered into one ``RunFilter`` (checked) before the call.

    The wrapper's signature and annotations list every filter as a keyword-only parameter,
    so ``help()``, argument binding and the server's schemas see them.
    """

    @functools.wraps(method)
    def call(self: S, /, *args: Any, **kwargs: Any) -> R:
        given = {name: kwargs.pop(name) for name in FILTER_NAMES & kwargs.keys()}
        return method(self, RunFilter(**given), *args, **kwargs)

    hints = typing.get_type_hints(RunFilter)
    own = list(inspect.signature(method).parameters.values())
    filters = [
        inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hints[f.name]
        )
        for f in _FIELDS
    ]
    call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [own[0], *filters, *own[2:]], return_annotation=inspect.signature(method).return_annotation
    )
    method_hints = typing.get_type_hints(method)
    call.__annotations__ = {
        **{p.name: p.annotation for p in filters},
        **{k: t for k, t in method_hints.items() if k != own[1].name},
    }
    return call
