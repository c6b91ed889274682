"""The configuration file as a cyclopts config source.

cyclopts calls a source once the command line and the environment variables have
been read, and each source fills only what is still unset. That gives the order
CLI > env var > config section > config top level > built-in default for free; this
module finds the file, checks it, and adds each value as the token a flag would have
carried. Values are converted at once, so that a bad one is reported against the
file and the key it came from.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from cyclopts import App, Token
from cyclopts.argument import Argument, ArgumentCollection
from cyclopts.exceptions import CoercionError, CycloptsError

from gosmee_trio.cli.configfile import (
    POSITIONAL_KEYS,
    SECTIONS,
    Document,
    Setting,
    check_config,
    flag_texts,
    layered_settings,
    positional_value,
)
from gosmee_trio.cli.configread import default_config_path, read_config_file
from gosmee_trio.errors import ConfigError

log = logging.getLogger(__name__)

CONFIG_FLAG = "--config"

# What an operator can do instead of a key upstream gosmee has and we do not.
_INSTEAD = {
    "auto-cert": "serve HTTPS with tls-cert and tls-key, or behind a proxy",
    "footer": "the channel page has no footer",
    "footer-file": "the channel page has no footer",
    "channel": "it never had an effect",
}


def config_key(argument: Argument) -> str:
    """The key of a flag in the file: its first long name, without the dashes."""
    return next(name for name in argument.names if name.startswith("--"))[2:]


def flag_arguments(arguments: ArgumentCollection) -> dict[str, Argument]:
    """The arguments the file may set, by config key (not ``--config`` itself)."""
    return {
        config_key(argument): argument
        for argument in arguments
        if argument.name.startswith("--") and argument.name != CONFIG_FLAG
    }


class ConfigFile:
    """The cyclopts config source for the YAML file (upstream gosmee's format).

    Register it with ``App(config=[...])`` and give it the commands that have a
    section (``commands``), so the whole file can be checked whichever runs.
    """

    def __init__(self) -> None:
        self.commands: Mapping[str, App] = {}
        # ``-F`` given before the command name (``gosmee-trio -F FILE server``).
        self.root_path: Path | None = None
        self.path: Path | None = None
        self._document: Document = {}
        self._command = ""
        self._unsupported: list[Setting] = []
        # Where each value the file supplied came from, by every name of its flag
        # (``--port``, ``-p``) and by argument name (``SMEE_URL``) for positional
        # values: see ``explain``.
        self._origins: dict[str, Setting] = {}

    def __call__(
        self, app: App, commands: tuple[str, ...], arguments: ArgumentCollection
    ) -> None:
        """Apply the file to ``arguments`` of the command being run.

        Raises:
            ConfigError: the file cannot be read or parsed, has an unknown key, or
                a value the flag cannot take.
        """
        self.path, self._document, self._command = None, {}, ""
        self._unsupported, self._origins = [], {}
        if not commands or commands[0] not in SECTIONS:
            return
        path, explicit = self._locate(arguments)
        document = read_config_file(path, explicit=explicit) if path else None
        if path is None or document is None:
            return
        check_config(document, path, self._section_flags())
        self.path, self._document, self._command = path, document, commands[0]
        flags = flag_arguments(arguments)
        for setting in layered_settings(document, commands[0]):
            self._apply(setting, flags)

    def positional(self, key: str) -> str:
        """A positional value (``smee-url``, ``hook-id``...) of the running section.

        Ask only when the command line and the environment gave none: a value
        returned is then recorded as the file's (see ``explain``).
        """
        value = positional_value(self._document, self._command, key)
        if value:
            self._origins[argument_name(key)] = Setting(key, value, self._command)
        return value

    def explain(self, error: ConfigError, flag: str | None = None) -> str:
        """``error``'s message, naming the file and key when the file set the flag.

        Args:
            error: A problem with one flag's value, found after parsing.
            flag: The flag at fault, when neither the message starts with it nor
                ``error.flag`` names it.
        """
        message = str(error)
        name = flag or error.flag or message.partition(" ")[0]
        setting = self._origins.get(name)
        if setting is None:  # given on the command line or by an env var
            return message
        return f"invalid config file {self.path}: {setting.where}: {message}"

    def log_unsupported(self) -> None:
        """Log the keys that were ignored; call once logging is set up."""
        for setting in self._unsupported:
            instead = _INSTEAD.get(setting.key)
            log.warning(
                "config file %s: %s is not supported by gosmee-trio %s and is "
                "ignored%s",
                self.path,
                setting.where,
                self._command,
                f" ({instead})" if instead else "",
            )

    def _locate(self, arguments: ArgumentCollection) -> tuple[Path | None, bool]:
        # -F after the command, then before it, then GOSMEE_CONFIG, then the default.
        tokens = _config_tokens(arguments)
        given = [t.value for t in tokens if t.source == "cli" and t.value]
        if given:
            return Path(given[-1]), True
        if self.root_path is not None:
            return self.root_path, True
        from_env = [t.value for t in tokens if t.source == "env" and t.value]
        if from_env:
            return Path(from_env[-1]), True
        return default_config_path(os.environ, sys.platform, _home()), False

    def _section_flags(self) -> dict[str, list[str]]:
        return {
            name: list(flag_arguments(command.assemble_argument_collection()))
            for name, command in self.commands.items()
        }

    def _apply(self, setting: Setting, flags: Mapping[str, Argument]) -> None:
        argument = flags.get(setting.key)
        if setting.value is None:
            return
        if argument is None:
            if self._upstream_would_apply(setting):
                self._unsupported.append(setting)
            return
        if argument.tokens:  # given on the command line or by its env var
            return
        texts = flag_texts(setting.value)
        _, takes_many = argument.token_count()
        if len(texts) != 1 and not takes_many:
            raise self._error(setting, "takes one value, got a list")
        for index, text in enumerate(texts):
            argument.append(
                Token(
                    keyword=setting.key, value=text, source=str(self.path), index=index
                )
            )
        try:
            argument.convert_and_validate()
        except CycloptsError as exc:
            raise self._error(setting, _problem(argument, exc)) from None
        self._origins.update(dict.fromkeys(argument.names, setting))

    def _upstream_would_apply(self, setting: Setting) -> bool:
        # Top-level keys are upstream's common flags, which only its client and
        # replay commands have; the server and keygen skip them silently there too.
        if setting.section is None:
            return self._command in ("client", "replay")
        return setting.key not in POSITIONAL_KEYS[setting.section]

    def _error(self, setting: Setting, problem: str) -> ConfigError:
        return ConfigError(
            f"invalid config file {self.path}: {setting.where} {problem}"
        )


def argument_name(key: str) -> str:
    """How messages name a positional value: ``smee-url`` is ``SMEE_URL``."""
    return key.upper().replace("-", "_")


def _config_tokens(arguments: ArgumentCollection) -> list[Token]:
    for argument in arguments:
        if argument.name == CONFIG_FLAG:
            return list(argument.tokens)
    return []


def _home() -> Path | None:
    try:
        return Path.home()
    except RuntimeError:  # no HOME and no passwd entry
        return None


def _problem(argument: Argument, exc: CycloptsError) -> str:
    if isinstance(exc, CoercionError) and exc.token is not None:
        expected = _expected(exc.target_type or argument.hint)
        return f"must be {expected}, got {exc.token.value!r}"
    return f"is not accepted: {exc}"


def _expected(hint: Any) -> str:
    members = [member for member in get_args(hint) if member is not type(None)]
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(member) for member in members)
    if members:  # Optional[X] and other unions: describe X
        return _expected(members[0])
    names = {bool: "true or false", int: "a whole number", float: "a number"}
    return names.get(hint, f"a {getattr(hint, '__name__', hint)}")


# The one source the CLI registers; the commands read positional values from it.
CONFIG_FILE = ConfigFile()
