"""Static pages: the favicon, the channel page shown to browsers and its assets."""

from __future__ import annotations

import functools
import hashlib
import html
import re
from dataclasses import dataclass
from importlib.resources import files

FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
    '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
    '<stop offset="0" stop-color="#6366f1"/><stop offset="1" stop-color="#a855f7"/>'
    '</linearGradient></defs><circle cx="32" cy="32" r="30" fill="url(#g)"/>'
    '<path d="M18 26h24l-6-6M46 38H22l6 6" stroke="#fff" stroke-width="4" '
    'fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>'
)

# The page loads nothing but its own script, stylesheet and icon, and talks only to
# this server (the event stream and replay): no inline code, no third party.
CHANNEL_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

_MARKER = re.compile(r"\{\{([A-Z_]+)\}\}")
_STATIC = files("gosmee_trio.server").joinpath("static")
# The only files served under /static/; the template itself is not among them.
_ASSET_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    """One file served under ``/static/``."""

    body: bytes
    content_type: str
    # A hash of the content, put in the page's asset URLs so that browsers may
    # cache them for good and still fetch a new release's files.
    version: str

    @property
    def url_suffix(self) -> str:
        return f"?v={self.version}"


@functools.cache
def static_assets() -> dict[str, Asset]:
    """Every servable asset by file name, read from the package once."""
    assets = {}
    for name, content_type in _ASSET_TYPES.items():
        body = _STATIC.joinpath(name).read_bytes()
        version = hashlib.sha256(body).hexdigest()[:12]
        assets[name] = Asset(body, content_type, version)
    return assets


@functools.cache
def _template() -> str:
    return _STATIC.joinpath("channel.html").read_text(encoding="utf-8")


def render_channel_page(public_url: str, channel: str, version: str) -> str:
    """The HTML page for ``GET /{channel}``; every inserted value is escaped."""
    assets = static_assets()
    replacements = {
        "URL": f"{public_url}/{channel}",
        "CHANNEL": channel,
        "VERSION": version,
        "EVENTS_PATH": f"/events/{channel}",
        "REPLAY_PATH": f"/replay/{channel}",
        "CSS_URL": "/static/app.css" + assets["app.css"].url_suffix,
        "JS_URL": "/static/app.js" + assets["app.js"].url_suffix,
    }
    # One pass, so that an inserted value is never searched for markers itself.
    return _MARKER.sub(lambda match: html.escape(replacements[match[1]]), _template())
