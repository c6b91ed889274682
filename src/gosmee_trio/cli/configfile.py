"""The YAML configuration file: where it is, what it may hold, how it layers.

Pure code, no cyclopts: checking the file's keys and turning its values into the
text a flag would have been given. ``cli/configread.py`` finds and reads the file;
``cli/configsource.py`` feeds the result to the command line parser. The rules
follow upstream gosmee's file (``config.example.yaml``), so one file serves both
programs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from gosmee_trio.errors import ConfigError

Document = dict[str, object]

SECTIONS = ("client", "server", "replay", "keygen")

# Upstream's common flag set (client and replay, also on its root): the keys allowed
# at the top level of the file besides the sections.
COMMON_KEYS = frozenset(
    {
        "output",
        "log-level",
        "ignore-event",
        "saveDir",
        "target-connection-timeout",
        "target-retries",
        "noReplay",
        "nocolor",
        "insecure-skip-tls-verify",
        "exec",
        "exec-on-events",
        "exec-env-vars",
    }
)
# ``config`` is allowed at the top level, as upstream, but has no effect: the file
# has been found by then.
TOP_LEVEL_KEYS = COMMON_KEYS | {"config"}

# Values that stand for a command's arguments, not for flags: the commands read them
# themselves, after their arguments and environment variables.
POSITIONAL_KEYS: Mapping[str, tuple[str, ...]] = {
    "client": ("smee-url", "target-url"),
    "server": (),
    "replay": ("org-repo", "hook-id", "target-url"),
    "keygen": (),
}

# The keys upstream gosmee accepts in each section. Each command's own flags are
# accepted too (see ``check_config``).
UPSTREAM_KEYS: Mapping[str, frozenset[str]] = {
    "client": COMMON_KEYS
    | {
        "smee-url",
        "target-url",
        "new-url",
        "httpie",
        "channel",
        "local-debug-url",
        "health-port",
        "sse-buffer-size",
        "encryption-key-file",
        "resume-state-file",
    },
    "server": frozenset(
        {
            "public-url",
            "port",
            "allowed-ips",
            "trust-proxy",
            "auto-cert",
            "footer",
            "footer-file",
            "address",
            "tls-cert",
            "tls-key",
            "webhook-signature",
            "replay-token",
            "max-body-size",
            "encrypted-channels-file",
            "cors-origin",
            "redis-url",
            "redis-stream-maxlen",
        }
    ),
    "replay": COMMON_KEYS
    | {
        "org-repo",
        "hook-id",
        "target-url",
        "github-token",
        "list-hooks",
        "list-deliveries",
        "time-since",
    },
    "keygen": frozenset({"key-file"}),
}


@dataclass(frozen=True, slots=True)
class Setting:
    """One key of the file with its value; ``section`` is None at the top level."""

    key: str
    value: object
    section: str | None = None

    @property
    def where(self) -> str:
        if self.section is None:
            return f'top-level key "{self.key}"'
        return f'key "{self.key}" in section "{self.section}"'


def check_config(
    document: Document, path: Path, flags: Mapping[str, Collection[str]]
) -> None:
    """Check every key of the file, not only the running command's section.

    Args:
        document: The parsed file.
        path: The file, for messages.
        flags: Per section, the config keys of that command's own flags; they are
            accepted besides upstream's keys.

    Raises:
        ConfigError: the first problem, prefixed ``invalid config file <path>: ``.
    """
    try:
        for key, value in document.items():
            if key in SECTIONS:
                _check_section(key, value, flags.get(key, ()))
            elif isinstance(value, dict):
                raise ConfigError(f'key "{key}" is not a valid section')
            elif key not in TOP_LEVEL_KEYS:
                raise ConfigError(f'unknown top-level configuration key: "{key}"')
            else:
                _check_value(Setting(key, value))
    except ConfigError as exc:
        raise ConfigError(f"invalid config file {path}: {exc}") from None


def _check_section(section: str, body: object, flags: Collection[str]) -> None:
    if body is None:
        return
    if not isinstance(body, dict):
        raise ConfigError(f'section "{section}" must be a map/dictionary')
    allowed = UPSTREAM_KEYS[section] | set(flags)
    for raw_key, value in body.items():
        key = str(raw_key)
        if key not in allowed:
            raise ConfigError(
                f'unknown configuration key in section "{section}": "{key}"'
            )
        setting = Setting(key, value, section)
        _check_value(setting)
        if key in POSITIONAL_KEYS[section] and isinstance(value, list):
            raise ConfigError(f"{setting.where} takes one value, got a list")


def _check_value(setting: Setting) -> None:
    values = setting.value if isinstance(setting.value, list) else [setting.value]
    for value in values:
        if isinstance(value, dict | list):
            raise ConfigError(
                f"{setting.where} must be a value or a list of values, "
                f"got {kind_of(setting.value)}"
            )


def layered_settings(document: Document, section: str) -> Iterator[Setting]:
    """The top-level keys, overlaid by ``section``'s: what a command applies.

    Positional keys (read by the command itself) and ``config`` are left out. A key
    set to null in the section hides the top-level value of the same key.
    """
    merged: dict[str, Setting] = {
        key: Setting(key, value)
        for key, value in document.items()
        if key not in SECTIONS and key != "config"
    }
    body = document.get(section)
    if isinstance(body, dict):
        for raw_key, value in body.items():
            key = str(raw_key)
            if key not in POSITIONAL_KEYS[section]:
                merged[key] = Setting(key, value, section)
    return iter(merged.values())


def positional_value(document: Document, section: str, key: str) -> str:
    """A positional key of ``section`` as text, "" when absent or null."""
    body = document.get(section)
    if not isinstance(body, dict):
        return ""
    texts = flag_texts(body.get(key))
    return texts[0] if texts else ""


def flag_texts(value: object) -> list[str]:
    """What the flag is given for ``value``: one text per list element, none for null.

    Booleans are written the way Go prints them (``true``/``false``). YAML reads an
    unquoted ``2024-05-01T10:00:00`` as a timestamp; it is written back in that
    form (UTC), which is what ``--time-since`` takes.
    """
    if value is None:
        return []
    if isinstance(value, list):
        return [text for element in value for text in flag_texts(element)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return [value.strftime("%Y-%m-%dT%H:%M:%S")]
    if isinstance(value, date):
        return [value.isoformat()]
    return [str(value)]


def kind_of(value: object) -> str:
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"
