"""GitHub's webhook objects as replay reads them, and the ORG[/REPO] scope; pure.

Shapes follow GitHub's REST reference for repository and organisation webhooks:
https://docs.github.com/en/rest/repos/webhooks and
https://docs.github.com/en/rest/webhooks/repo-deliveries
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from gosmee_trio.errors import ConfigError, GitHubError

# --time-since and the tables use upstream's layout, always UTC.
TIME_LAYOUT = "%Y-%m-%dT%H:%M:%S"
_TIME_SINCE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose hooks: an organisation's (``repo`` empty) or one repository's."""

    owner: str
    repo: str = ""

    @classmethod
    def parse(cls, text: str) -> Scope:
        """``ORG`` or ``ORG/REPO``.

        Raises:
            ConfigError: ``text`` is empty or has another shape.
        """
        text = text.strip()
        if not text:
            raise ConfigError("at least an org is required or an org/repo")
        owner, _, repo = text.partition("/")
        if not owner or "/" in repo or (text.endswith("/") and not repo):
            raise ConfigError(f"expected ORG or ORG/REPO, got {text!r}")
        return cls(owner, repo)

    @property
    def hooks_path(self) -> str:
        """API path of the hook list, e.g. ``/repos/octo/hello/hooks``."""
        if self.repo:
            return (
                f"/repos/{quote(self.owner, safe='')}/{quote(self.repo, safe='')}/hooks"
            )
        return f"/orgs/{quote(self.owner, safe='')}/hooks"

    def __str__(self) -> str:
        return f"{self.owner}/{self.repo}" if self.repo else self.owner


@dataclass(frozen=True, slots=True)
class Hook:
    """One webhook of a repository or organisation."""

    id: int
    name: str
    active: bool
    events: tuple[str, ...]
    url: str


@dataclass(frozen=True, slots=True)
class DeliverySummary:
    """One entry of a hook's delivery list."""

    id: int
    guid: str
    delivered_at: datetime
    event: str
    action: str
    status_code: int
    redelivery: bool


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery with the request GitHub sent: headers and parsed payload."""

    summary: DeliverySummary
    headers: tuple[tuple[str, str], ...]
    payload: object


def parse_time_since(text: str) -> datetime:
    """``YYYY-MM-DDTHH:MM:SS``, read as UTC.

    Raises:
        ConfigError: ``text`` has another shape or is not a real date.
    """
    problem = f"expected --time-since as YYYY-MM-DDTHH:MM:SS (UTC), got {text!r}"
    if not _TIME_SINCE.fullmatch(text):
        raise ConfigError(problem)
    try:
        return datetime.strptime(text, TIME_LAYOUT).replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(problem) from None


def hook_from_json(data: object) -> Hook:
    fields = _object(data, "hook")
    config = fields.get("config")
    url = config.get("url") if isinstance(config, dict) else None
    events = fields.get("events")
    return Hook(
        id=_int(fields, "id", "hook"),
        name=_text(fields.get("name")),
        active=fields.get("active") is True,
        events=tuple(str(e) for e in events) if isinstance(events, list) else (),
        url=_text(url),
    )


def summary_from_json(data: object) -> DeliverySummary:
    fields = _object(data, "delivery")
    status = fields.get("status_code")
    return DeliverySummary(
        id=_int(fields, "id", "delivery"),
        guid=_text(fields.get("guid")),
        delivered_at=_time(fields.get("delivered_at")),
        event=_text(fields.get("event")),
        action=_text(fields.get("action")),
        status_code=status if isinstance(status, int) else 0,
        redelivery=fields.get("redelivery") is True,
    )


def delivery_from_json(data: object) -> Delivery:
    fields = _object(data, "delivery")
    request = fields.get("request")
    if not isinstance(request, dict):
        raise GitHubError("expected a delivery with a 'request' object from GitHub")
    headers = request.get("headers")
    pairs = headers.items() if isinstance(headers, dict) else ()
    return Delivery(
        summary=summary_from_json(fields),
        headers=tuple((str(k), str(v)) for k, v in pairs if v is not None),
        payload=request.get("payload"),
    )


def _object(data: object, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise GitHubError(
            f"expected a {what} object from GitHub, got {type(data).__name__}"
        )
    return data


def _int(fields: dict[str, Any], key: str, what: str) -> int:
    value = fields.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise GitHubError(f"expected an integer {key!r} in a {what}, got {value!r}")
    return value


def _time(value: object) -> datetime:
    # GitHub writes ISO 8601 in UTC, e.g. 2019-06-03T00:57:16Z.
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise GitHubError(
            f"expected an ISO 8601 'delivered_at' in a delivery, got {value!r}"
        ) from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: object) -> str:
    return "" if value is None else str(value)
