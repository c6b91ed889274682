"""Quart-Trio routes: channel URLs and page, version probes, metrics, error pages.

The two hot routes, webhook intake and the event stream, are served by
``hotpath.HotPath`` in front of this app.
"""

from __future__ import annotations

import json
import secrets
import string

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart import Response, abort, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from gosmee_trio import __version__
from gosmee_trio.config import is_valid_channel
from gosmee_trio.server.asgi import ShieldedFinalSendConnection
from gosmee_trio.server.pages import (
    CHANNEL_PAGE_CSP,
    FAVICON_SVG,
    render_channel_page,
    static_assets,
)
from gosmee_trio.server.state import ServerState

_CHANNEL_ALPHABET = string.ascii_letters
_TEXT = "text/plain; charset=utf-8"
# Asset URLs carry a content hash (pages.Asset.version): a cached copy is never stale.
_ASSET_CACHE = "public, max-age=31536000, immutable"


def create_app(state: ServerState) -> QuartTrio:
    """Build the Quart-Trio application serving ``state``."""
    # No implicit static route: only pages.static_assets() is served, by name.
    app = QuartTrio(__name__, static_folder=None)
    app.asgi_http_class = ShieldedFinalSendConnection
    app.config["MAX_CONTENT_LENGTH"] = state.config.max_body_size
    _add_probe_routes(app, state)
    _add_metrics_route(app, state)
    _add_channel_routes(app, state)
    _add_error_handlers(app)
    return app


def _add_probe_routes(app: QuartTrio, state: ServerState) -> None:
    async def version() -> Response:
        body = json.dumps({"version": __version__}, separators=(",", ":")) + "\n"
        return Response(
            body,
            200,
            {"Content-Type": "application/json", "X-Gosmee-Version": __version__},
        )

    async def health() -> Response:
        # Ready to relay? In Redis mode that needs Redis; /livez says only that the
        # process answers, so a supervisor does not restart it while Redis is away.
        fields: dict[str, str] = {"version": __version__}
        status = 200
        if state.config.redis_url:
            problem = await state.broker.check()
            fields["redis"] = "down" if problem else "up"
            if problem:
                fields["error"] = problem
                status = 503
        body = json.dumps(fields, separators=(",", ":")) + "\n"
        return Response(
            body,
            status,
            {"Content-Type": "application/json", "X-Gosmee-Version": __version__},
        )

    for path in ("/version", "/livez"):
        app.add_url_rule(path, path, version, methods=["GET"])
    app.add_url_rule("/health", "/health", health, methods=["GET"])

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(FAVICON_SVG, 200, {"Content-Type": "image/svg+xml"})

    def fresh_channel() -> str:
        # Random names never hand out a protected channel, however unlikely.
        while state.protected.is_protected(channel := _new_channel()):
            pass
        return channel

    @app.get("/")
    async def root() -> Response:
        url = f"{state.public_url}/{fresh_channel()}"
        return Response("", 302, {"Location": url})

    @app.get("/new")
    async def new_channel() -> Response:
        url = f"{state.public_url}/{fresh_channel()}"
        # smee-client asks with HEAD and reads Location; a browser is sent on to the
        # channel page; curl and gosmee clients get the URL as text, as upstream.
        if request.method == "HEAD" or "text/html" in request.headers.get("Accept", ""):
            return Response("", 307, {"Location": url})
        return Response(
            f"{url}\n", 200, {"Content-Type": "text/plain", "Location": url}
        )


def _add_metrics_route(app: QuartTrio, state: ServerState) -> None:
    # Rendered in the event loop's thread: the broker is read while nothing else runs.
    @app.get("/metrics")
    async def metrics() -> Response:
        body = generate_latest(state.metrics.registry)
        return Response(body, 200, {"Content-Type": CONTENT_TYPE_LATEST})


def _add_channel_routes(app: QuartTrio, state: ServerState) -> None:
    @app.get("/<channel>")
    async def channel_page(channel: str) -> Response:
        _require_channel(channel)
        if state.protected.is_protected(channel):
            abort(404)
        page = render_channel_page(state.public_url, channel, __version__)
        headers = {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": CHANNEL_PAGE_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        }
        return Response(page, 200, headers)

    @app.get("/static/<name>")
    async def static_asset(name: str) -> Response:
        asset = static_assets().get(name)
        if asset is None:
            abort(404)
        headers = {
            "Content-Type": asset.content_type,
            "Cache-Control": _ASSET_CACHE,
            "X-Content-Type-Options": "nosniff",
        }
        return Response(asset.body, 200, headers)


def _require_channel(channel: str) -> None:
    if not is_valid_channel(channel):
        abort(404)


def _new_channel() -> str:
    return "".join(secrets.choice(_CHANNEL_ALPHABET) for _ in range(12))


def _add_error_handlers(app: QuartTrio) -> None:
    messages = {
        404: "404 page not found",
        405: "",
        413: "request body too large",
    }

    @app.errorhandler(HTTPException)
    async def plain_error(error: HTTPException) -> Response:
        code = error.code or 500
        text = messages.get(code, error.name)
        headers = {"Content-Type": _TEXT, "X-Content-Type-Options": "nosniff"}
        if code == 405:
            headers["Allow"] = ", ".join(getattr(error, "valid_methods", None) or [])
            return Response("", 405, headers)
        return Response(text + "\n", code, headers)
