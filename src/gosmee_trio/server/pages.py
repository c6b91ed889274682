"""Static pages: the favicon and the channel page shown to browsers."""

from __future__ import annotations

import html
import json
from importlib.resources import files

FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
    '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
    '<stop offset="0" stop-color="#6366f1"/><stop offset="1" stop-color="#a855f7"/>'
    '</linearGradient></defs><circle cx="32" cy="32" r="30" fill="url(#g)"/>'
    '<path d="M18 26h24l-6-6M46 38H22l6 6" stroke="#fff" stroke-width="4" '
    'fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>'
)

_TEMPLATE = files("gosmee_trio.server").joinpath("static/channel.html")


def render_channel_page(public_url: str, channel: str, version: str) -> str:
    """The HTML page for ``GET /{channel}``; every inserted value is escaped."""
    url = f"{public_url}/{channel}"
    replacements = {
        "{{URL}}": html.escape(url),
        "{{CHANNEL}}": html.escape(channel),
        "{{VERSION}}": html.escape(version),
        "{{EVENTS_PATH_JSON}}": html.escape(json.dumps(f"/events/{channel}")),
    }
    page = _TEMPLATE.read_text(encoding="utf-8")
    for marker, value in replacements.items():
        page = page.replace(marker, value)
    return page
