"""Quart-Trio routes: channel URLs and page, version probes, error pages.

The two hot routes, webhook intake and the event stream, are served by
``hotpath.HotPath`` in front of this app.
"""

from __future__ import annotations

import json
import secrets
import string

from quart import Response, abort, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from gosmee_trio import __version__
from gosmee_trio.config import is_valid_channel
from gosmee_trio.server.asgi import ShieldedFinalSendConnection
from gosmee_trio.server.pages import FAVICON_SVG, render_channel_page
from gosmee_trio.server.state import ServerState

_CHANNEL_ALPHABET = string.ascii_letters
_TEXT = "text/plain; charset=utf-8"


def create_app(state: ServerState) -> QuartTrio:
    """Build the Quart-Trio application serving ``state``."""
    app = QuartTrio(__name__)
    app.asgi_http_class = ShieldedFinalSendConnection
    app.config["MAX_CONTENT_LENGTH"] = state.config.max_body_size
    _add_probe_routes(app, state)
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

    for path in ("/version", "/health", "/livez"):
        app.add_url_rule(path, path, version, methods=["GET"])

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


def _add_channel_routes(app: QuartTrio, state: ServerState) -> None:
    @app.get("/<channel>")
    async def channel_page(channel: str) -> Response:
        _require_channel(channel)
        if state.protected.is_protected(channel):
            abort(404)
        page = render_channel_page(state.public_url, channel, __version__)
        return Response(page, 200, {"Content-Type": "text/html; charset=utf-8"})


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
