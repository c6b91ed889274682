"""Settings for the server and the client, validated once, then read-only."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gosmee_trio.errors import ConfigError
from gosmee_trio.events import is_stream_id

# Upstream's default: 25 MiB is more than any provider sends (GitHub caps at 25 MB).
DEFAULT_MAX_BODY_SIZE = 26_214_400
# One keepalive comment every 30 s, as upstream and smee.io: well inside the idle
# timeouts of nginx (60 s) and most load balancers.
DEFAULT_KEEPALIVE = 30.0
# A stream with no bytes at all for this many keepalive intervals is treated as dead
# (half-open TCP), so the client reconnects instead of waiting forever.
WATCHDOG_FACTOR = 2.5
# Per-request deadline for delivery to the target, as upstream.
DEFAULT_TARGET_TIMEOUT = 5.0
DEFAULT_TARGET_RETRIES = 5

CHANNEL_PATTERN = re.compile(r"[A-Za-z0-9_-]{12,64}")


def is_valid_channel(channel: str) -> bool:
    return CHANNEL_PATTERN.fullmatch(channel) is not None


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What ``gosmee-trio server`` runs with."""

    address: str = "localhost"
    port: int = 3333
    public_url: str = ""
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    keepalive_interval: float = DEFAULT_KEEPALIVE
    cors_origin: str = "*"

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be between 0 and 65535, got {self.port!r}")
        if self.max_body_size <= 0:
            raise ConfigError(
                f"--max-body-size must be a positive number of bytes, "
                f"got {self.max_body_size!r}"
            )
        if self.keepalive_interval <= 0:
            raise ConfigError(
                f"--keepalive-interval must be positive seconds, "
                f"got {self.keepalive_interval!r}"
            )

    def effective_public_url(self, bound_port: int | None = None) -> str:
        """``--public-url`` or ``http://<address>:<port>`` (the bound port if 0)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        port = bound_port if bound_port is not None else self.port
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{port}"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """What ``gosmee-trio client`` runs with."""

    smee_url: str
    target_url: str
    target_timeout: float = DEFAULT_TARGET_TIMEOUT
    target_retries: int = DEFAULT_TARGET_RETRIES
    keepalive_interval: float = DEFAULT_KEEPALIVE
    insecure_skip_tls_verify: bool = False
    # Stream id to resume after on the first connection; "" starts live.
    last_event_id: str = ""

    def __post_init__(self) -> None:
        for name, url in (("SMEE_URL", self.smee_url), ("TARGET_URL", self.target_url)):
            if url and not url.startswith(("http://", "https://")):
                raise ConfigError(
                    f"{name} must be an http:// or https:// URL, got {url!r}"
                )
        if not self.smee_url:
            raise ConfigError(
                "need at least a smeeURL and a targetURL as arguments, ie: gosmee-trio "
                "client https://server.smee.url/aBcdeFghijklmn http://localhost:8080"
            )
        if self.last_event_id and not is_stream_id(self.last_event_id):
            raise ConfigError(
                f"resume id must be a stream id like '1718000000125-0', "
                f"got {self.last_event_id!r}"
            )
        if self.target_retries < 0:
            object.__setattr__(self, "target_retries", 0)

    @property
    def watchdog_timeout(self) -> float:
        return self.keepalive_interval * WATCHDOG_FACTOR
