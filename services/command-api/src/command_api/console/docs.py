"""The OpenAPI page (Swagger UI 5.35.0, vendored in static/swagger/): no CDN, a strict CSP."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from .web import CSP

router = APIRouter(include_in_schema=False)
ASSETS = "/static/swagger"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@cache
def _page(openapi_url: str, title: str) -> tuple[bytes, str]:
    """The page and its CSP: the console's, plus the hash of the inline script that starts
    Swagger UI (FastAPI writes it into the page)."""
    html = bytes(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=None,
        ).body
    )
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html.decode())
    )
    return html, CSP.replace("script-src 'self'", f"script-src 'self' {hashes}")


@router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI on the API's OpenAPI document."""
    app = request.app
    html, csp = _page(app.openapi_url, f"{app.title} - Swagger UI")
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": csp,
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )
