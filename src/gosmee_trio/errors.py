"""The exception tree of gosmee-trio.

    RelayError
    ├── ConfigError      bad flag, env var or config value
    ├── ChannelError     channel id that is malformed or not allowed
    ├── StreamError      SSE protocol trouble: bad status, wrong content type
    │   └── StreamIdError    a stream id that is not ``<ms>-<seq>``
    ├── MessageError     a relayed message the client cannot parse
    ├── EnvelopeError    an encrypted envelope that is malformed or will not open
    ├── HookError        the --exec command failed, timed out or could not start
    ├── DeliveryError    forwarding an event to the target failed
    └── GitHubError      the GitHub REST API refused or failed (``replay``)

Library exceptions (httpx, PyNaCl) are mapped into this tree at one boundary per
layer, with ``raise ... from exc``.
"""

from __future__ import annotations


class RelayError(Exception):
    """Root of every error gosmee-trio raises on purpose."""


class ConfigError(RelayError):
    """A flag, env var or config value is invalid.

    A message about one flag starts with it (``--port must be ...``), so the CLI
    can tell where that flag's value came from.

    Attributes:
        flag: the flag (``--tls-key``) or argument (``SMEE_URL``) at fault, for a
            message that does not start with it; None otherwise.
    """

    def __init__(self, message: str, *, flag: str | None = None) -> None:
        super().__init__(message)
        self.flag = flag


class ChannelError(RelayError):
    """A channel id is malformed or not allowed."""


class StreamError(RelayError):
    """The SSE stream broke a protocol rule."""


class StreamIdError(StreamError, ValueError):
    """A stream id is not of the form ``<ms>-<seq>``."""


class MessageError(RelayError):
    """A relayed message could not be parsed into a delivery."""


class EnvelopeError(RelayError):
    """An encrypted envelope is malformed, of another version, or will not open."""


class DeliveryError(RelayError):
    """One attempt to forward an event to the target failed.

    Attributes:
        kind: ``timeout``, ``network``, ``tls``, ``dns``, ``http_status`` or
            ``transport``.
        retryable: whether another attempt may succeed.
        status: HTTP status of the target's answer, when there was one.
        retry_after: seconds the target asked us to wait, when it did.
        attempt: which attempt failed (1 is the first).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        attempt: int = 1,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.attempt = attempt


class HookError(RelayError):
    """The exec hook could not run, failed or timed out.

    Attributes:
        returncode: the command's exit status (negative: killed by that signal);
            None when it timed out or never started.
    """

    def __init__(self, message: str, *, returncode: int | None = None) -> None:
        super().__init__(message)
        self.returncode = returncode


class GitHubError(RelayError):
    """A GitHub REST API call failed (``gosmee-trio replay``).

    Attributes:
        status: HTTP status of GitHub's answer; None for a network failure.
        retryable: whether the same call may succeed later (network trouble,
            5xx); False for answers that will not change (401, 404, 422).
    """

    def __init__(
        self, message: str, *, status: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


def first_leaf(error: BaseException) -> BaseException:
    """The first exception inside ``error`` that is not a group (trio and coredis
    wrap errors in exception groups)."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
