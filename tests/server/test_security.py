"""The posture of surfaces.md section 2, refusal by refusal, over a real socket."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import httpx
import pytest

from racs.server.security import host_name
from racs.server.wire import MAX_BODY_BYTES
from server.conftest import Served, plan_input


def _error(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["code"] == code
    assert isinstance(body["error"], str)  # @takk/racs's clients read the message there
    assert "Traceback" not in r.text
    message: str = body["error"]
    return message


class TestHostCheck:
    @pytest.mark.parametrize(
        "host", ["localhost", "localhost:4378", "127.0.0.1:1", "[::1]:4378", "[::1]", "LOCALHOST"]
    )
    def test_loopback_hosts_pass(self, client: httpx.Client, host: str) -> None:
        """Loopback Host headers (port stripped, brackets allowed) are served."""
        assert client.get("/healthz", headers={"Host": host}).status_code == 200

    @pytest.mark.parametrize(
        "host",
        ["evil.example", "evil.example:4378", "10.0.0.1", "127.0.0.1.evil.example", "[::2]:80"],
    )
    def test_other_hosts_are_403(self, client: httpx.Client, host: str) -> None:
        """Without a token any other Host is 403 (DNS rebinding defense)."""
        _error(client.get("/healthz", headers={"Host": host}), 403, "ERR_FORBIDDEN_HOST")
        _error(client.get("/", headers={"Host": host}), 403, "ERR_FORBIDDEN_HOST")

    @pytest.mark.parametrize("token", [None, "s3cret"])
    def test_two_host_headers_are_400(
        self, serve: Callable[..., Served], token: str | None
    ) -> None:
        """Two Host headers are ambiguous (a proxy may read the other one): refused, not
        first-wins, with or without a token."""
        s = serve(token=token)
        port = int(s.url.rsplit(":", 1)[1])
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        for hosts in (("localhost", "evil.example"), ("localhost", "localhost")):
            request = (
                f"GET /healthz HTTP/1.1\r\nHost: {hosts[0]}\r\nHost: {hosts[1]}\r\n{auth}"
                "Connection: close\r\n\r\n"
            )
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.sendall(request.encode())
                answer = b""
                while chunk := conn.recv(65536):
                    answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 "), head
            assert json.loads(body)["code"] == "ERR_INVALID_INPUT"

    def test_missing_host_is_403(self, server: Served) -> None:
        """An HTTP/1.0 request without a Host header is refused too."""
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        assert data.startswith(b"HTTP/1.1 403")

    def test_host_name_parsing(self) -> None:
        """Ports are stripped and IPv6 brackets removed."""
        assert host_name("[::1]:80") == "::1"
        assert host_name("::1") == "::1"
        assert host_name("Example.COM:8080") == "example.com"

    def test_with_token_any_host_is_served(self, serve: Callable[..., Served]) -> None:
        """With a token the bearer is the defense; the Host header is not checked."""
        with serve(token="s3cret").client() as c:
            assert c.get("/healthz", headers={"Host": "racs.internal"}).status_code == 200


class TestBearer:
    def test_missing_or_wrong_token_is_401(self, serve: Callable[..., Served]) -> None:
        """With a token, a missing or wrong bearer is 401 with WWW-Authenticate."""
        s = serve(token="s3cret")
        with httpx.Client(base_url=s.url) as c:
            r = c.get("/stats")
            _error(r, 401, "ERR_UNAUTHORIZED")
            assert r.headers["www-authenticate"].startswith("Bearer")
            for value in ("Bearer wrong", "bearer s3cret", "Basic s3cret", "Bearer s3cret2"):
                _error(c.get("/stats", headers={"Authorization": value}), 401, "ERR_UNAUTHORIZED")
            _error(c.post("/plan", json=plan_input()), 401, "ERR_UNAUTHORIZED")
            assert c.get("/stats", headers={"Authorization": "Bearer s3cret"}).status_code == 200

    def test_bearer_checked_before_body_rules(self, serve: Callable[..., Served]) -> None:
        """An unauthenticated client learns nothing from body validation."""
        s = serve(token="s3cret")
        with httpx.Client(base_url=s.url) as c:
            _error(
                c.post("/plan", content=b"{bad", headers={"Content-Type": "text/plain"}),
                401,
                "ERR_UNAUTHORIZED",
            )

    def test_dashboard_shell_is_public(self, serve: Callable[..., Served]) -> None:
        """The static dashboard shell loads without the token; its data does not."""
        s = serve(token="s3cret")
        with httpx.Client(base_url=s.url) as c:
            assert c.get("/").status_code == 200
            assert c.get("/static/dashboard.js").status_code == 200
            _error(c.get("/openapi.json"), 401, "ERR_UNAUTHORIZED")
            _error(c.get("/stats/history"), 401, "ERR_UNAUTHORIZED")

    def test_healthz_needs_no_bearer(self, serve: Callable[..., Served]) -> None:
        """Health checks work without the token, as with @takk/racs; only GET is public."""
        s = serve(token="s3cret")
        with httpx.Client(base_url=s.url) as c:
            r = c.get("/healthz")
            assert r.status_code == 200 and r.json()["ok"] is True
            _error(c.post("/healthz", json={}), 401, "ERR_UNAUTHORIZED")

    def test_openapi_declares_bearer_when_token(self, serve: Callable[..., Served]) -> None:
        """The published document states the bearer requirement when there is one."""
        with serve(token="s3cret").client() as c:
            assert c.get("/openapi.json").json()["security"] == [{"bearer": []}]


class TestBodies:
    @pytest.mark.parametrize("path", ["/plan", "/lint", "/usage", "/refreshed", "/invalidate"])
    def test_non_json_is_415(self, client: httpx.Client, path: str) -> None:
        """POST bodies must be application/json."""
        for headers in ({"Content-Type": "text/plain"}, {"Content-Type": "application/xml"}, {}):
            _error(
                client.post(path, content=b"{}", headers=headers), 415, "ERR_UNSUPPORTED_MEDIA_TYPE"
            )

    def test_exactly_1_mb_is_accepted_one_more_byte_is_413(self, client: httpx.Client) -> None:
        """The limit is 1 MB inclusive."""
        head = (
            b'{"provider":"anthropic","model":"m","segments":[{"id":"a","role":"system",'
            b'"stability":"stable","content":"'
        )
        tail = b'"}]}'
        body = head + b"x" * (MAX_BODY_BYTES - len(head) - len(tail)) + tail
        assert len(body) == MAX_BODY_BYTES
        assert (
            client.post(
                "/lint", content=body, headers={"Content-Type": "application/json"}
            ).status_code
            == 200
        )
        _error(
            client.post("/lint", content=body + b" ", headers={"Content-Type": "application/json"}),
            413,
            "ERR_PAYLOAD_TOO_LARGE",
        )

    def test_chunked_body_over_limit_is_413(self, client: httpx.Client) -> None:
        """Without Content-Length the limit is enforced while the body streams in."""

        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(5):
                yield b" " * (MAX_BODY_BYTES // 4)

        r = client.post("/plan", content=chunks(), headers={"Content-Type": "application/json"})
        _error(r, 413, "ERR_PAYLOAD_TOO_LARGE")

    @pytest.mark.parametrize(
        "body", [b"{bad", b"", b"[1,", b'{"a":NaN}', b"\xff\xfe{", b"[" * 100_000]
    )
    def test_malformed_json_is_400_with_reason(self, client: httpx.Client, body: bytes) -> None:
        """Malformed JSON is a 400 that says so, never a 500."""
        message = _error(
            client.post("/plan", content=body, headers={"Content-Type": "application/json"}),
            400,
            "ERR_INVALID_JSON",
        )
        assert message.startswith("malformed JSON")

    @pytest.mark.parametrize(
        ("path", "body", "needle"),
        [
            ("/plan", {"provider": "anthropic", "model": "m", "segments": []}, "segments"),
            ("/plan", [1, 2], "input must be an object"),
            ("/plan", {"provider": "nope", "model": "m", "segments": [{}]}, "provider"),
            ("/lint", {"provider": "openai", "model": "", "segments": [{}]}, "model"),
            (
                "/usage",
                {"provider": "openai", "model": "m", "inputTokens": -1, "cacheReadTokens": 0},
                "inputTokens",
            ),
            (
                "/usage",
                {"provider": "openai", "model": "m", "inputTokens": 1e400, "cacheReadTokens": 0},
                "inputTokens",
            ),
            ("/usage", "text", "usage must be an object"),
            ("/refreshed", {}, "prefixKey"),
            ("/refreshed", {"prefixKey": "k", "now": "soon"}, "now"),
            ("/refreshed", {"prefixKey": "k", "now": 253_402_300_800_000}, "year 9999"),
            ("/invalidate", {"provider": "nope"}, "provider"),
            ("/invalidate", {"prefixKey": 5}, "prefixKey"),
            ("/invalidate", None, "JSON object"),
        ],
    )
    def test_invalid_input_is_400_with_reason(
        self, client: httpx.Client, path: str, body: object, needle: str
    ) -> None:
        """Invalid input is a 400 naming the field."""
        import json

        raw = json.dumps(body).replace("Infinity", "1e400").encode()
        message = _error(
            client.post(path, content=raw, headers={"Content-Type": "application/json"}),
            400,
            "ERR_INVALID_INPUT",
        )
        assert needle in message

    @pytest.mark.parametrize(
        ("path", "params"),
        [
            ("/schedule", {"now": "x"}),
            ("/drifts", {"limit": "-1"}),
            ("/stats", {"until": "1e3"}),
        ],
    )
    def test_invalid_query_is_400(
        self, client: httpx.Client, path: str, params: dict[str, str]
    ) -> None:
        """Bad query values are 400 too."""
        _error(client.get(path, params=params), 400, "ERR_INVALID_INPUT")

    def test_unknown_route_and_method(self, client: httpx.Client) -> None:
        """Unknown paths are JSON 404s, wrong methods JSON 405s."""
        _error(client.get("/nope"), 404, "ERR_NOT_FOUND")
        _error(client.get("/plan"), 405, "ERR_METHOD_NOT_ALLOWED")

    @pytest.mark.parametrize("path", ["/healthz", "/stats", "/schedule", "/ledger/verify"])
    def test_wrong_method_is_405_whatever_the_body(self, client: httpx.Client, path: str) -> None:
        """Routing comes before the body rules: a POST to a GET route is 405, not 415."""
        for headers in ({"Content-Type": "text/plain"}, {}):
            r = client.post(path, content=b"x", headers=headers)
            _error(r, 405, "ERR_METHOD_NOT_ALLOWED")
            assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD"}
        _error(client.put("/plan", json=plan_input()), 405, "ERR_METHOD_NOT_ALLOWED")

    def test_405_lists_every_method_of_a_path(self, client: httpx.Client) -> None:
        """A path served for GET and POST names both in Allow."""
        r = client.delete("/ledger/runs")
        _error(r, 405, "ERR_METHOD_NOT_ALLOWED")
        assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


class TestCors:
    def test_no_cors_without_token(self, serve: Callable[..., Served]) -> None:
        """An origin alone enables nothing: CORS needs a token too."""
        s = serve(cors_origin="https://app.example")
        with s.client() as c:
            r = c.get("/healthz", headers={"Origin": "https://app.example"})
            assert "access-control-allow-origin" not in r.headers
            pre = c.options(
                "/plan",
                headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
            )
            assert "access-control-allow-origin" not in pre.headers

    def test_no_cors_without_origin(self, serve: Callable[..., Served]) -> None:
        """A token alone sends no CORS headers."""
        with serve(token="t").client() as c:
            r = c.get("/healthz", headers={"Origin": "https://app.example"})
            assert "access-control-allow-origin" not in r.headers

    @pytest.mark.parametrize(
        "headers",
        [
            {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
            {"Origin": "https://app.example"},
            {},
        ],
    )
    def test_any_options_is_a_204_preflight(
        self, serve: Callable[..., Served], headers: dict[str, str]
    ) -> None:
        """With an origin configured, OPTIONS on any path answers 204 with the CORS headers
        (as @takk/racs does), without credentials."""
        s = serve(token="t", cors_origin="https://app.example")
        with httpx.Client(base_url=s.url) as anonymous:
            for path in ("/plan", "/ledger/runs", "/healthz"):
                pre = anonymous.options(path, headers=headers)
                assert pre.status_code == 204, path
                assert pre.content == b""
                assert pre.headers["access-control-allow-origin"] == "https://app.example"
                assert pre.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
                assert "Content-Type" in pre.headers["access-control-allow-headers"]

    def test_cors_with_token_and_origin(self, serve: Callable[..., Served]) -> None:
        """Token + origin: every response names the configured origin; preflights answer."""
        s = serve(token="t", cors_origin="https://app.example")
        with s.client() as c:
            r = c.get("/healthz", headers={"Origin": "https://app.example"})
            assert r.headers["access-control-allow-origin"] == "https://app.example"
            # Named on every response, as @takk/racs does: another origin's page still
            # cannot read it, since the browser compares the name with its own origin.
            other = c.get("/healthz", headers={"Origin": "https://evil.example"})
            assert other.headers["access-control-allow-origin"] == "https://app.example"
            assert c.get("/stats").headers["access-control-allow-origin"] == "https://app.example"
        with httpx.Client(base_url=s.url) as anonymous:  # preflights carry no credentials
            pre = anonymous.options(
                "/plan",
                headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
            )
            assert pre.status_code == 204
            assert pre.headers["access-control-allow-origin"] == "https://app.example"
            assert "Authorization" in pre.headers["access-control-allow-headers"]
            refused = anonymous.get("/stats", headers={"Origin": "https://app.example"})
            _error(refused, 401, "ERR_UNAUTHORIZED")
            assert refused.headers["access-control-allow-origin"] == "https://app.example"
