"""Settings for the server and the client, validated once, then read-only."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
# Time the in-flight event gets to finish after SIGINT/SIGTERM: a webhook handler
# that takes longer than this is stuck, and systemd's stop timeout (90 s) is larger.
DEFAULT_SHUTDOWN_GRACE = 10.0
DEFAULT_LOCAL_DEBUG_URL = "http://localhost:8080"
# Per-request deadline for delivery to the target, as upstream.
DEFAULT_TARGET_TIMEOUT = 5.0
# Entries kept per channel stream in Redis mode (approximate trimming), as upstream.
DEFAULT_REDIS_STREAM_MAXLEN = 10_000
DEFAULT_TARGET_RETRIES = 5

CHANNEL_PATTERN = re.compile(r"[A-Za-z0-9_-]{12,64}")


def _check_seconds(flag: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag} must be a positive number of seconds, got {value!r}")


def _check_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http:// or https:// URL, got {url!r}")


def _is_smee_io(url: str) -> bool:
    return urlsplit(url).hostname == "smee.io"


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
    allowed_ips: tuple[str, ...] = ()
    trust_proxy: bool = False
    webhook_secrets: tuple[str, ...] = ()
    replay_token: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    encrypted_channels_file: Path | None = None
    redis_url: str = ""
    redis_stream_maxlen: int = DEFAULT_REDIS_STREAM_MAXLEN

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be between 0 and 65535, got {self.port!r}")
        if self.max_body_size <= 0:
            raise ConfigError(
                f"--max-body-size must be a positive number of bytes, "
                f"got {self.max_body_size!r}"
            )
        _check_seconds("--keepalive-interval", self.keepalive_interval)
        if "\r" in self.cors_origin or "\n" in self.cors_origin:
            raise ConfigError(
                f"--cors-origin must be one line, got {self.cors_origin!r}"
            )
        if self.public_url:
            _check_url("--public-url", self.public_url)
        if (self.tls_cert is None) != (self.tls_key is None):
            given = "--tls-cert" if self.tls_cert is not None else "--tls-key"
            raise ConfigError(
                "--tls-cert and --tls-key must be given together", flag=given
            )
        for flag, path in (("--tls-cert", self.tls_cert), ("--tls-key", self.tls_key)):
            if path is not None and not path.is_file():
                raise ConfigError(
                    f"{flag} must name a readable file, got {str(path)!r}"
                )

        if self.redis_url:
            _check_redis_url(self.redis_url)
        if not 0 <= self.redis_stream_maxlen <= _REDIS_MAX_COUNT:
            raise ConfigError(
                "--redis-stream-maxlen must be 0 (no trimming) or a positive number "
                f"of entries, got {self.redis_stream_maxlen!r}"
            )

    def effective_public_url(self, bound_port: int | None = None) -> str:
        """``--public-url`` or ``http://<address>:<port>`` (the bound port if 0)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        port = bound_port if bound_port is not None else self.port
        host = f"[{self.address}]" if ":" in self.address else self.address
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{port}"

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """What ``gosmee-trio client`` runs with."""

    smee_url: str
    target_url: str
    target_timeout: float = DEFAULT_TARGET_TIMEOUT
    target_retries: int = DEFAULT_TARGET_RETRIES
    keepalive_interval: float = DEFAULT_KEEPALIVE
    insecure_skip_tls_verify: bool = False
    # Stream id to resume after on the first connection; "" starts live (or from
    # the resume state file, when there is one).
    last_event_id: str = ""
    save_dir: Path | None = None
    httpie: bool = False
    local_debug_url: str = DEFAULT_LOCAL_DEBUG_URL
    ignore_events: tuple[str, ...] = ()
    no_replay: bool = False
    exec_command: str = ""
    exec_on_events: tuple[str, ...] = ()
    exec_env_vars: tuple[str, ...] = ()
    exec_timeout: float | None = None
    health_port: int = 0
    resume_state_file: Path | None = None
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    encryption_key_file: Path | None = None
    smee_stream: bool = False

    def __post_init__(self) -> None:
        for name, url in (("SMEE_URL", self.smee_url), ("TARGET_URL", self.target_url)):
            if url:
                _check_url(name, url)
        if self.smee_url and not urlsplit(self.smee_url).path.strip("/"):
            raise ConfigError(
                f"SMEE_URL must end with a channel, like "
                f"https://hooks.example.com/aBcDeFgHiJkL, got {self.smee_url!r}"
            )
        _check_seconds("--target-connection-timeout", self.target_timeout)
        _check_seconds("--keepalive-interval", self.keepalive_interval)
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
        if self.encryption_key_file is not None and (
            _is_smee_io(self.smee_url) or self.smee_stream
        ):
            raise ConfigError(
                "client key files are only supported with gosmee server URLs, "
                "not https://smee.io",
                flag="--encryption-key-file",
            )
        if not self.target_url and not self.exec_command:
            raise ConfigError(
                "need a TARGET_URL to forward events to (e.g. http://localhost:8080) "
                "or an --exec command"
            )
        if not 0 <= self.health_port <= 65535:
            raise ConfigError(
                f"--health-port must be between 0 and 65535, got {self.health_port!r}"
            )
        if self.exec_timeout is not None:
            _check_seconds("--exec-timeout", self.exec_timeout)
        if not math.isfinite(self.shutdown_grace) or self.shutdown_grace < 0:
            raise ConfigError(
                f"--shutdown-grace must be zero or more seconds, "
                f"got {self.shutdown_grace!r}"
            )

    @property
    def forwarding(self) -> bool:
        """Whether events are POSTed to a target (not with --noReplay or exec-only)."""
        return bool(self.target_url) and not self.no_replay

    @property
    def watchdog_timeout(self) -> float:
        return self.keepalive_interval * WATCHDOG_FACTOR


def redact_password(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs: the
    one after ``user:`` and a ``password=`` query parameter alike."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url.rpartition("@")[2] if "@" in url else url
    if password is not None:
        host = parts.netloc.rpartition("@")[2]
        user = f"{parts.username}:***@" if parts.username else ":***@"
        url = urlunsplit(parts._replace(netloc=user + host))
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name.lower() == "password" for name, _ in query):
        # Any case: a mistyped Password= is still somebody's password.
        hidden = [(n, "***" if n.lower() == "password" else v) for n, v in query]
        # Replaced as text: urlunsplit would turn unix:///path into unix:/path.
        url = url.replace(f"?{parts.query}", f"?{urlencode(hidden, safe='*/')}", 1)
    return url


# Query parameters of --redis-url that name files read at start-up (TLS).
_REDIS_URL_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
# What coredis takes for ssl_cert_reqs (anything else fails deep inside it).
_CERT_REQS = ("none", "optional", "required")


# Redis keeps counts in a signed 64-bit integer.
_REDIS_MAX_COUNT = 2**63 - 1


def _check_redis_url(url: str) -> None:
    shown = redact_password(url)
    problem = _redis_url_problem(url)
    if problem:
        raise ConfigError(f"--redis-url {problem}, got {shown!r}")


def _redis_url_problem(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("redis", "rediss", "unix"):
        return "must start with redis://, rediss:// or unix://"
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _REDIS_URL_FILES and not _readable_file(value):
            return f"names {name}={value!r}, which is not a readable file"
        if name == "ssl_cert_reqs" and value not in _CERT_REQS:
            return f"has ssl_cert_reqs={value!r}; use none, optional or required"
    if parts.scheme == "unix":
        return (
            "" if parts.path else "must name a socket path, as unix:///run/redis.sock"
        )
    if not parts.hostname:
        return "must name a host, as redis://localhost:6379"
    if port == 0:
        return "must name a port between 1 and 65535"
    database = parts.path.strip("/")
    if database and not database.isdigit():
        return f"must end with a database number, not {database!r}"
    return ""


def _readable_file(path: str) -> bool:
    # Asked, not opened: opening a FIFO named by mistake would wait for a writer.
    return Path(path).is_file() and os.access(path, os.R_OK)
