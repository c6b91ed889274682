"""Finding and reading the YAML configuration file; pure, no cyclopts.

Where upstream gosmee looks for it, and PyYAML's safe loader made to refuse a key
given twice. What the keys may be is ``cli/configfile.py``'s business.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml

from gosmee_trio.cli.configfile import SECTIONS, Document, Setting, kind_of
from gosmee_trio.errors import ConfigError


def default_config_path(
    environ: Mapping[str, str], platform: str, home: Path | None
) -> Path | None:
    """``<user config dir>/gosmee/config.yaml``, or None when there is no such dir.

    The user config dir is Go's ``os.UserConfigDir``: ``%AppData%`` on Windows,
    ``~/Library/Application Support`` on macOS, else ``$XDG_CONFIG_HOME`` (when
    absolute, as the XDG spec asks) or ``~/.config``.
    """
    if platform == "win32":
        base = environ.get("APPDATA", "")
        return Path(base, "gosmee", "config.yaml") if base else None
    if home is None:
        return None
    if platform == "darwin":
        return home / "Library" / "Application Support" / "gosmee" / "config.yaml"
    xdg = environ.get("XDG_CONFIG_HOME", "")
    base_dir = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".config"
    return base_dir / "gosmee" / "config.yaml"


def read_config_file(path: Path, *, explicit: bool) -> Document | None:
    """Read and parse the file; None when the default file does not exist.

    Raises:
        ConfigError: the file cannot be read (a missing file only when it was named
            explicitly), is not YAML, is not a map of keys, or gives a key twice in
            one map.
    """
    try:
        text = path.read_bytes()
    except FileNotFoundError as exc:
        if not explicit:
            return None
        raise ConfigError(
            f"failed to read config file {path}: {_reason(exc)}"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"failed to read config file {path}: {_reason(exc)}"
        ) from None
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"failed to parse YAML config file {path}: {_yaml_problem(exc)}"
        ) from None
    except ConfigError as exc:
        raise ConfigError(f"invalid config file {path}: {exc}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        kind = kind_of(document)
        raise ConfigError(
            f"failed to parse YAML config file {path}: expected a map of keys at the "
            f"top level, got {kind}"
        )
    return {str(key): value for key, value in document.items()}


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one map.

    PyYAML keeps the last value of a repeated key without a word; in a hand-edited
    file the repeat is nearly always a mistake, and the value that wins may not be
    the one the operator is looking at.
    """

    _root: yaml.Node | None = None

    def construct_document(self, node: yaml.Node) -> object:
        self._root = node
        return super().construct_document(node)

    def construct_mapping(
        self, node: yaml.MappingNode, deep: bool = False
    ) -> dict[Hashable, Any]:
        # Before the base class flattens merge keys (``<<: *base``) into the map:
        # a key that overrides a merged one is YAML's way to override, not a repeat.
        self._refuse_repeated_keys(node)
        return super().construct_mapping(node, deep=deep)

    def _refuse_repeated_keys(self, node: yaml.MappingNode) -> None:
        lines: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                continue
            # As text, the way the keys are used (``read_config_file``).
            key = str(self.construct_object(key_node))
            line = key_node.start_mark.line + 1
            if key in lines:
                first = lines[key]
                shown = f"line {line}" if first == line else f"lines {first} and {line}"
                raise ConfigError(f"{self._where(node, key)} is given twice ({shown})")
            lines[key] = line

    def _where(self, node: yaml.MappingNode, key: str) -> str:
        if node is self._root:
            return Setting(key, None).where
        if isinstance(self._root, yaml.MappingNode):
            for name_node, body in self._root.value:
                if body is node and name_node.value in SECTIONS:
                    return Setting(key, None, name_node.value).where
        return f'key "{key}"'  # deeper than a section: refused later anyway


_MERGE = "tag:yaml.org,2002:merge"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # PyYAML's own text spans several lines and names "<byte string>"; keep the
    # problem and where it is.
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        if mark is None:
            return exc.problem
        return f"{exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(exc).replace("\n", " ")
