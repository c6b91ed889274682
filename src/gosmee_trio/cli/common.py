"""What the commands share: option types, logging, signals, error exits."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Annotated, Literal, NoReturn, TypeVar

import trio
from cyclopts import Parameter, Token

from gosmee_trio.cli.configsource import CONFIG_FILE
from gosmee_trio.errors import ConfigError
from gosmee_trio.logs import configure_logging

log = logging.getLogger("gosmee_trio.cli")

T = TypeVar("T")
LogLevel = Literal["debug", "info", "warn", "error"]
Output = Literal["pretty", "json"]

LogLevelOption = Annotated[
    LogLevel, Parameter(name="--log-level", env_var="GOSMEE_LOG_LEVEL")
]
OutputOption = Annotated[Output, Parameter(name=["--output", "-o"])]
NoColorOption = Annotated[bool, Parameter(name="--nocolor", negative=())]
# Read by the config source (cli/configsource.py), not by the commands themselves.
ConfigOption = Annotated[
    Path | None, Parameter(name=["--config", "-F"], env_var="GOSMEE_CONFIG")
]
# The same, given before the command name; GOSMEE_CONFIG is the command's business.
RootConfigOption = Annotated[Path | None, Parameter(name=["--config", "-F"])]


def whole_number(hint: object, tokens: Sequence[Token]) -> int:
    """Read an integer option, refusing fractions (a cyclopts converter).

    cyclopts alone would round ``1.5`` to 2, so a port of ``21021.5`` would quietly
    become 21022. As with cyclopts and Go's ``strconv.ParseInt`` (upstream's
    parser), a sign, ``_`` separators and ``0x``/``0o``/``0b`` prefixes are fine.

    Raises:
        ValueError: the text is not a whole number; cyclopts reports it against
            the flag, the env var or (``cli/configsource.py``) the config key.
    """
    (token,) = tokens  # a scalar option: cyclopts passes the one value
    text = token.value.strip().lower()
    base = _BASES.get(text.lstrip("+-")[:2], 10)
    try:
        if not text.isascii():  # int() would take other scripts' digits
            raise ValueError(text)
        return int(text, base)
    except ValueError:
        raise ValueError(f"must be a whole number, got {token.value!r}") from None


_BASES = {"0x": 16, "0o": 8, "0b": 2}

# The type of every integer option.
WholeNumber = Annotated[int, Parameter(converter=whole_number)]


def comma_env(hint: object, value: str, delimiter: str | None = None) -> list[str]:
    """Split a list-valued env var on commas (urfave/cli's rule), not whitespace."""
    return [part.strip() for part in value.split(",") if part.strip()]


# Options the client and the replay command share.
SaveDirOption = Annotated[
    Path | None,
    Parameter(name=["--saveDir", "--save-dir", "-s"], env_var="GOSMEE_SAVEDIR"),
]
ExecOption = Annotated[str, Parameter(name="--exec", env_var="GOSMEE_EXEC")]
ExecOnEventsOption = Annotated[
    list[str] | None, Parameter(name=["--exec-on-events", "-E"], negative=())
]
ExecEnvVarsOption = Annotated[
    list[str] | None,
    Parameter(
        name="--exec-env-vars",
        env_var="GOSMEE_EXEC_ENV_VARS",
        negative=(),
        env_var_split=comma_env,
    ),
]
TargetTimeoutOption = Annotated[
    float,
    Parameter(name="--target-connection-timeout", env_var="GOSMEE_TARGET_TIMEOUT"),
]
TargetRetriesOption = Annotated[
    WholeNumber, Parameter(name="--target-retries", env_var="GOSMEE_TARGET_RETRIES")
]


def split_commas(values: list[str] | None) -> tuple[str, ...]:
    """Repeated list flags, each value also split on commas, as upstream does."""
    return tuple(
        part.strip()
        for value in values or ()
        for part in value.split(",")
        if part.strip()
    )


def setup_logging(level: LogLevel, output: Output, nocolor: bool) -> None:
    # NO_COLOR: any non-empty value turns colour off (https://no-color.org).
    color = (
        output == "pretty"
        and not nocolor
        and not os.environ.get("NO_COLOR")
        and sys.stderr.isatty()
    )
    configure_logging(level, output, color=color)
    CONFIG_FILE.log_unsupported()


def checked(factory: Callable[..., T], **values: object) -> T:
    """Build a config, turning a ConfigError into a one-line error exit."""
    try:
        return factory(**values)
    except ConfigError as exc:
        fail_config(exc)


def fail_config(error: ConfigError, flag: str | None = None) -> NoReturn:
    """Exit with ``error``, naming the config file and key if the value came from it.

    Args:
        error: A problem with a flag's value.
        flag: The flag at fault, when the message does not start with it.
    """
    fail(CONFIG_FILE.explain(error, flag))


def fail(message: str) -> NoReturn:
    sys.stderr.write(f"gosmee-trio: error: {message}\n")
    raise SystemExit(1)


async def on_signals(
    signals: AsyncIterator[int], graceful: Callable[[], None], scope: trio.CancelScope
) -> None:
    """First signal: ``graceful()``. Second: cancel ``scope`` at once."""
    asked = False
    async for signum in signals:
        name = signal.Signals(signum).name
        if asked:
            log.info("received %s again, stopping now", name)
            scope.cancel()
            return
        asked = True
        log.info("received %s, shutting down gracefully", name)
        graceful()
