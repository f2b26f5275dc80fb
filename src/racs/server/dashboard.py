"""``GET /`` and ``/static/*``: the self-contained dashboard (one page, its CSS and JS).

Every asset ships inside the package and is read once at startup; nothing comes from a
CDN, so the page works offline and a strict Content-Security-Policy can hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from racs.server.errors import error_response

STATIC_DIR: Final = Path(__file__).parent / "static"
_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _load() -> dict[str, tuple[bytes, str]]:
    assets = {}
    for path in sorted(STATIC_DIR.iterdir()):
        media_type = _TYPES.get(path.suffix)
        if path.is_file() and media_type is not None:
            assets[path.name] = (path.read_bytes(), media_type)
    return assets


def routes() -> list[BaseRoute]:
    """The dashboard routes."""
    assets = _load()
    headers = {
        "content-security-policy": CSP,
        "x-content-type-options": "nosniff",
        "cache-control": "no-cache",
    }

    async def index(request: Request) -> Response:
        body, media_type = assets["index.html"]
        return Response(body, media_type=media_type, headers=headers)

    async def static(request: Request) -> Response:
        found = assets.get(request.path_params["name"])
        if found is None:
            return error_response("ERR_NOT_FOUND", "no such asset")
        return Response(found[0], media_type=found[1], headers=headers)

    async def favicon(request: Request) -> Response:
        body, media_type = assets["favicon.svg"]
        return Response(body, media_type=media_type, headers=headers)

    return [
        Route("/", index, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
    ]
