"""Path or URL: ``racs.core.targets`` decides it once for every ledger and state target."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racs.core.errors import ERR_INVALID_INPUT, RacsError
from racs.core.targets import Target, ledger_target, parse_target
from racs.ledger import create_ledger


class TestKinds:
    @pytest.mark.parametrize(
        ("text", "kind"),
        [
            ("postgresql://postgres@127.0.0.1:5432/test", "postgres"),
            ("postgres://u:p@db/racs", "postgres"),
            ("PostgreSQL://host/db", "postgres"),
            ("redis://127.0.0.1:6379/0", "redis"),
            ("rediss://secure:6380", "redis"),
            ("unix:///run/redis.sock", "redis"),
            ("valkey://cache:6379", "redis"),
            ("valkeys://cache:6380", "redis"),
            ("~/.racs/ledger.db", "sqlite"),
            ("ledger.db", "sqlite"),
            (":memory:", "sqlite"),
            ("file:shared?mode=memory&cache=shared", "sqlite"),
            ("file:///tmp/ledger.db", "sqlite"),
            ("C:/racs/ledger.db", "sqlite"),
            ("dir/with://inside", "sqlite"),
        ],
    )
    def test_ledger_role(self, text: str, kind: str) -> None:
        """A known scheme names its store; anything without a scheme is a SQLite path."""
        assert parse_target(text) == Target(kind, text)  # type: ignore[arg-type]

    def test_state_role_makes_a_path_a_snapshot_file(self) -> None:
        """The same path is a snapshot file when it names a state, and a URL stays a URL."""
        assert parse_target("state.json", "state").kind == "file"
        assert parse_target("redis://h:6379/0", "state").kind == "redis"

    def test_a_path_like_is_read_as_its_text(self, tmp_path: Path) -> None:
        """``Path`` objects are accepted wherever text is."""
        assert parse_target(tmp_path / "x.db") == Target("sqlite", str(tmp_path / "x.db"))

    def test_unknown_scheme_is_refused(self) -> None:
        """``http://`` is not a store racs opens: ERR_INVALID_INPUT naming the scheme only."""
        with pytest.raises(RacsError) as caught:
            parse_target("http://user:secret@example.com/ledger")
        assert caught.value.code == ERR_INVALID_INPUT
        assert "http://" in caught.value.message
        assert "secret" not in caught.value.message

    def test_a_ledger_is_never_a_redis_url(self) -> None:
        """``ledger_target`` (and so ``create_ledger``) refuses a Redis URL."""
        with pytest.raises(RacsError) as caught:
            ledger_target("redis://:pw@127.0.0.1:6379/0")
        assert caught.value.code == ERR_INVALID_INPUT
        assert "pw" not in caught.value.message
        with pytest.raises(RacsError):
            create_ledger("redis://127.0.0.1:6379/0")


class TestTargetValue:
    def test_shown_hides_user_and_password(self) -> None:
        """Everything between ``://`` and the last ``@`` becomes ``***``."""
        target = parse_target("postgresql://racs:s3cr@t@db.internal:5432/racs")
        assert target.shown == "postgresql://***@db.internal:5432/racs"
        assert parse_target("redis://127.0.0.1:6379/0").shown == "redis://127.0.0.1:6379/0"
        assert parse_target("a@b.db").shown == "a@b.db"  # a path is shown as it is

    def test_path_expands_home_and_refuses_a_url(self) -> None:
        """``~`` is expanded; asking a URL for its path is ERR_INVALID_INPUT."""
        assert parse_target("~/l.db").path == os.path.join(os.path.expanduser("~"), "l.db")
        with pytest.raises(RacsError):
            _ = parse_target("postgres://h/db").path

    def test_exists(self, tmp_path: Path) -> None:
        """A URL counts as present (its server is asked when opened); a path must be there."""
        assert parse_target("postgresql://h/db").exists()
        assert parse_target(tmp_path).exists()
        assert not parse_target(tmp_path / "missing.db").exists()

    def test_create_ledger_takes_a_target_the_same_way(self, tmp_path: Path) -> None:
        """``create_ledger(path)`` and ``create_ledger(url=...)`` go through the same decision."""
        with create_ledger(tmp_path / "a.db") as a, create_ledger(url=str(tmp_path / "b.db")) as b:
            assert a.location == str(tmp_path / "a.db")
            assert b.location == str(tmp_path / "b.db")


class TestNeverCrashes:
    @given(st.text(max_size=60), st.sampled_from(["ledger", "state"]))
    def test_any_text_gives_a_target_or_racs_error(self, text: str, role: str) -> None:
        """Every text parses or raises RacsError; the target keeps the text it came from,
        and a text without a scheme is a path."""
        try:
            target = parse_target(text, role)  # type: ignore[arg-type]
        except RacsError as exc:
            assert exc.code == ERR_INVALID_INPUT
            return
        assert target.text == text
        if "://" not in text:  # no scheme: always a path, whatever it looks like
            assert target.kind == ("sqlite" if role == "ledger" else "file")
            assert not target.is_url and target.shown == text

    @given(
        st.sampled_from(["postgresql", "postgres", "redis", "valkey"]),
        st.text(alphabet=st.characters(blacklist_characters="@/"), min_size=1, max_size=20),
        st.text(alphabet="abcdefgh.:0123456789", min_size=1, max_size=20),
    )
    def test_shown_never_holds_the_credentials(self, scheme: str, cred: str, host: str) -> None:
        """Whatever the user and password, ``shown`` is the scheme, ``***`` and the host."""
        target = parse_target(f"{scheme}://{cred}@{host}")
        assert target.shown == f"{scheme}://***@{host}"

    @given(st.one_of(st.integers(), st.none(), st.binary()))
    def test_non_text_is_racs_error(self, value: object) -> None:
        """Not text and not a path: ERR_INVALID_INPUT, never a TypeError."""
        with pytest.raises(RacsError):
            parse_target(value)  # type: ignore[arg-type]
