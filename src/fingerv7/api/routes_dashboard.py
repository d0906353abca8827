"""The operator dashboard: one static page that polls the JSON API from the browser.

The page and its assets carry no fleet data, so they are public; every figure on the page comes
from the API with the operator's key (kept in the browser's sessionStorage, never in a URL).
Assets are files shipped in the package, served from a fixed list so no path reaches the disk
unchecked, with a Content-Security-Policy that allows nothing from outside this origin.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)

STATIC_DIR: Traversable = files("fingerv7.api") / "static"
PAGE_FILE = "dashboard.html"
ASSET_MEDIA_TYPES = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "operator.js": "text/javascript; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files that change with each release: revalidate rather than serve a stale page.
    "Cache-Control": "no-cache",
}


def _read(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


@router.get("/dashboard")
async def dashboard_page() -> Response:
    """The page itself; relative links keep it working behind a path prefix."""
    return Response(
        _read(PAGE_FILE), media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS
    )


@router.get("/dashboard/assets/{name}")
async def dashboard_asset(name: str) -> Response:
    """One of the page's own files (CSS, JS); anything else is 404."""
    media_type = ASSET_MEDIA_TYPES.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dashboard asset named '{name}'")
    return Response(_read(name), media_type=media_type, headers=SECURITY_HEADERS)
