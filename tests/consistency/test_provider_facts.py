"""Provider facts live in one record per provider (``racs.core.facts``), complete, and
nowhere else: the seven tables issue 22 found are derived from the records."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from racs.core import facts
from racs.core.cache import rules_for
from racs.core.catalog import default_profile_of
from racs.core.profiles import SHIPPED_PROFILES
from racs.core.tiers import TIER

SRC = Path(__file__).resolve().parents[2] / "src" / "racs"
FACT_HOMES = {"core/facts.py", "core/tiers.py", "core/limits.py"}
"""Where a provider fact (or a bound) may be written as a literal."""
KNOWN: frozenset[str] = frozenset()
"""Constants still being moved onto the records (empty: none tolerated)."""


class TestRecords:
    @pytest.mark.parametrize("record", facts.RECORDS, ids=lambda r: r.id)
    def test_every_record_is_complete(self, record: facts.Provider) -> None:
        """What each family's cache model, the price book, the importers, the telemetry
        maps and ``racs simulate`` read is there for every provider."""
        p = record.profile
        assert p.id == record.id and p.family in (
            "breakpoint",
            "routing-key",
            "resource",
            "passive",
        )
        assert p.step_tokens is not None and p.step_tokens >= 1
        assert p.notes
        assert record.demo_model and record.wire in (
            "anthropic",
            "openai",
            "gemini",
            "bedrock",
            "none",
        )
        assert record.id in record.telemetry_names
        if p.family == "breakpoint":
            assert p.ttls and all(t in TIER for t in p.ttls)
            assert p.max_breakpoints and p.min_cacheable_tokens
            assert all(p.write_multiplier(t) is not None for t in p.ttls)
            assert p.read_multiplier is not None
        else:
            assert p.idle_retention_seconds, "automatic entries need an idle lifetime"
        if p.family == "routing-key":
            assert p.max_retention_seconds and p.idle_retention_min_seconds
        if p.family == "resource":
            assert p.resource_ttls and p.storage_per_mtok_hour is not None
        if record.wire == "none":
            assert record.price_db is None, "local and custom providers are never priced by name"

    @pytest.mark.parametrize("record", facts.RECORDS, ids=lambda r: r.id)
    def test_every_provider_has_a_cache_model(self, record: facts.Provider) -> None:
        rules = rules_for(record.profile)
        assert rules.tiers and rules.step >= 1
        assert rules.auto is not None or rules.family == "breakpoint"

    def test_the_derived_tables_agree(self) -> None:
        """PROVIDERS, the shipped profiles and the name maps all come from the records."""
        assert tuple(facts.PROVIDER) == facts.PROVIDERS == tuple(SHIPPED_PROFILES)
        assert len(facts.PROVIDERS) == 16
        for record in facts.RECORDS:
            assert SHIPPED_PROFILES[record.id] is record.profile
            for name in record.telemetry_names:
                assert facts.provider_named(name, facts.TELEMETRY_NAMES) == record.id
            for name in record.litellm_names:
                assert facts.provider_named(name, facts.LITELLM_NAMES) == record.id
        assert facts.provider_named("no-such-vendor", facts.TELEMETRY_NAMES) == "custom"

    def test_openai_in_memory_retention_is_one_fact(self) -> None:
        """5 to 10 minutes idle, an hour at most: the neutral model keeps 600 s, the
        pessimistic one 300 s (issue 22: it was 600 in two modules and 300 in two others)."""
        from racs.core.cache import PESSIMISTIC

        profile = default_profile_of("openai", "gpt-4.1")
        assert profile is not None
        neutral = rules_for(profile).tiers["in_memory"]
        pessimistic = rules_for(profile, PESSIMISTIC).tiers["in_memory"]
        assert neutral.ttl_ms == 600_000 and neutral.sure_ms == 300_000
        assert neutral.max_life_ms == 3_600_000
        assert pessimistic.ttl_ms == 300_000 * 0.8


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (str(p.relative_to(SRC)), ast.parse(p.read_text(encoding="utf-8")))
        for p in sorted(SRC.rglob("*.py"))
    ]


class TestNoFactElsewhere:
    def test_no_table_keyed_by_provider_ids_outside_the_records(self) -> None:
        """A dict or set literal naming three or more provider ids is a fact table."""
        ids = set(facts.PROVIDERS)
        found = []
        for name, tree in _modules():
            if name in FACT_HOMES:
                continue
            for node in ast.walk(tree):
                keys: list[ast.expr | None] = []
                if isinstance(node, ast.Dict):
                    keys = list(node.keys)
                elif isinstance(node, ast.Set):
                    keys = list(node.elts)
                named = [k.value for k in keys if isinstance(k, ast.Constant) and k.value in ids]
                if len(named) >= 3:
                    found.append(f"{name}:{node.lineno} {sorted(named)}")
        assert not found, "\n".join(found)

    def test_no_retention_or_step_constant_outside_the_records(self) -> None:
        """A module-level constant named for a retention, TTL, step or multiplier and set
        to a number belongs in a provider record (or the tier table)."""
        words = ("RETENTION", "IDLE", "STEP_TOKENS", "MULTIPLIER", "_TTL", "TTLS")
        found = []
        for name, tree in _modules():
            if name in FACT_HOMES:
                continue
            for node in tree.body:
                targets: list[ast.expr] = []
                value: ast.expr | None = None
                if isinstance(node, ast.Assign):
                    targets, value = node.targets, node.value
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    targets, value = [node.target], node.value
                for target in targets:
                    if not isinstance(target, ast.Name) or not any(w in target.id for w in words):
                        continue
                    numbers = [
                        n
                        for n in ast.walk(value)
                        if isinstance(n, ast.Constant)
                        and isinstance(n.value, int | float)
                        and not isinstance(n.value, bool)
                    ]
                    if numbers and f"{name} {target.id}" not in KNOWN:
                        found.append(f"{name}:{node.lineno} {target.id}")
        assert not found, "\n".join(found)
