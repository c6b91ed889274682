"""The configuration file's pure rules: location, reading, checking, layering."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from gosmee_trio.cli.configfile import (
    Setting,
    check_config,
    flag_texts,
    layered_settings,
    positional_value,
)
from gosmee_trio.cli.configread import default_config_path, read_config_file
from gosmee_trio.errors import ConfigError

HOME = Path("/home/ada")


@pytest.mark.parametrize(
    ("environ", "platform", "home", "expected"),
    [
        pytest.param(
            {}, "linux", HOME, HOME / ".config/gosmee/config.yaml", id="linux"
        ),
        pytest.param(
            {"XDG_CONFIG_HOME": "/etc/xdg-ada"},
            "linux",
            HOME,
            Path("/etc/xdg-ada/gosmee/config.yaml"),
            id="linux-xdg",
        ),
        pytest.param(
            {"XDG_CONFIG_HOME": "relative/dir"},
            "linux",
            HOME,
            HOME / ".config/gosmee/config.yaml",
            id="linux-relative-xdg-ignored",
        ),
        pytest.param(
            {"XDG_CONFIG_HOME": "/x"},
            "darwin",
            HOME,
            HOME / "Library/Application Support/gosmee/config.yaml",
            id="macos",
        ),
        pytest.param(
            {"APPDATA": "C:/Users/ada/AppData/Roaming"},
            "win32",
            None,
            Path("C:/Users/ada/AppData/Roaming/gosmee/config.yaml"),
            id="windows",
        ),
        pytest.param({}, "win32", HOME, None, id="windows-no-appdata"),
        pytest.param({}, "linux", None, None, id="no-home"),
    ],
)
def test_default_config_path(
    environ: dict[str, str], platform: str, home: Path | None, expected: Path | None
) -> None:
    assert default_config_path(environ, platform, home) == expected


def test_read_config_file_missing_default_is_ignored(tmp_path: Path) -> None:
    assert read_config_file(tmp_path / "absent.yaml", explicit=False) is None


def test_read_config_file_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    message = f"failed to read config file {path}: No such file or directory"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        read_config_file(path, explicit=True)


def test_read_config_file_unreadable_default_is_an_error(tmp_path: Path) -> None:
    message = f"failed to read config file {tmp_path}: Is a directory"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        read_config_file(tmp_path, explicit=False)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            "server:\n  port: 1\n bad: 2\n",
            "expected <block end>, but found '<block mapping start>' "
            "(line 3, column 2)",
            id="indentation",
        ),
        pytest.param(
            "server: [port\n", "expected ',' or ']', but got '<stream end>'", id="open"
        ),
        pytest.param(
            "- port\n- address\n",
            "expected a map of keys at the top level, got a list",
            id="list",
        ),
        pytest.param(
            "just text\n",
            "expected a map of keys at the top level, got a str",
            id="str",
        ),
    ],
)
def test_read_config_file_bad_yaml(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    message = f"failed to parse YAML config file {path}: {problem}"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        read_config_file(path, explicit=True)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            "output: json\nlog-level: info\noutput: pretty\n",
            'top-level key "output" is given twice (lines 1 and 3)',
            id="top-level",
        ),
        pytest.param(
            "server:\n  port: 1\n  address: ::1\n  port: 2\n",
            'key "port" in section "server" is given twice (lines 2 and 4)',
            id="section",
        ),
        pytest.param(
            "client: {health-port: 1, health-port: 2}\n",
            'key "health-port" in section "client" is given twice (line 1)',
            id="flow-style-one-line",
        ),
        pytest.param(
            "server:\n  port: 1\nserver:\n  port: 2\n",
            'top-level key "server" is given twice (lines 1 and 3)',
            id="section-twice",
        ),
        pytest.param(
            '1: x\n"1": y\n',
            'top-level key "1" is given twice (lines 1 and 2)',
            id="same-key-as-text",
        ),
        pytest.param(
            "server:\n  port: {a: 1, a: 2}\n",
            'key "a" is given twice (line 2)',
            id="deeper-than-a-section",
        ),
    ],
)
def test_read_config_file_refuses_a_key_given_twice(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    message = f"invalid config file {path}: {problem}"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        read_config_file(path, explicit=True)


def test_read_config_file_merge_key_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "client: &common\n  health-port: 1\nreplay:\n  <<: *common\n  health-port: 2\n"
    )
    document = read_config_file(path, explicit=True)
    assert document == {"client": {"health-port": 1}, "replay": {"health-port": 2}}


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_read_config_file_empty_is_an_empty_map(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    assert read_config_file(path, explicit=True) == {}


def test_read_config_file_keys_become_text(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("output: json\n1: x\n")
    assert read_config_file(path, explicit=True) == {"output": "json", "1": "x"}


FLAGS = {"client": ["keepalive-interval"], "server": ["log-level", "port"]}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        pytest.param(
            {"colour": True},
            'unknown top-level configuration key: "colour"',
            id="unknown-top-level",
        ),
        pytest.param(
            {"port": 3333},
            'unknown top-level configuration key: "port"',
            id="section-key-at-top-level",
        ),
        pytest.param(
            {"servre": {"port": 1}},
            'key "servre" is not a valid section',
            id="misspelt-section",
        ),
        pytest.param(
            {"output": {"format": "json"}},
            'key "output" is not a valid section',
            id="known-key-as-map",
        ),
        pytest.param(
            {"server": "port 3333"},
            'section "server" must be a map/dictionary',
            id="scalar-section",
        ),
        pytest.param(
            {"client": ["a", "b"]},
            'section "client" must be a map/dictionary',
            id="list-section",
        ),
        pytest.param(
            {"server": {"prot": 1}},
            'unknown configuration key in section "server": "prot"',
            id="unknown-in-section",
        ),
        pytest.param(
            {"keygen": {"keepalive-interval": 1}},
            'unknown configuration key in section "keygen": "keepalive-interval"',
            id="other-commands-flag",
        ),
        pytest.param(
            {"server": {"log-level": "debug"}, "keygen": {"log-level": "info"}},
            'unknown configuration key in section "keygen": "log-level"',
            id="second-section",
        ),
        pytest.param(
            {"server": {"port": {"number": 1}}},
            'key "port" in section "server" must be a value or a list of values, '
            "got a map",
            id="map-value",
        ),
        pytest.param(
            {"ignore-event": [["push"]]},
            'top-level key "ignore-event" must be a value or a list of values, '
            "got a list",
            id="nested-list",
        ),
        pytest.param(
            {"client": {"smee-url": ["https://a/b", "https://c/d"]}},
            'key "smee-url" in section "client" takes one value, got a list',
            id="positional-list",
        ),
    ],
)
def test_check_config_rejects(document: dict[str, object], problem: str) -> None:
    path = Path("/etc/gosmee/config.yaml")
    message = f"invalid config file {path}: {problem}"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        check_config(document, path, FLAGS)


def test_check_config_accepts_upstream_keys_our_flags_and_null_sections() -> None:
    document: dict[str, object] = {
        "output": "json",
        "config": "/elsewhere.yaml",
        "saveDir": None,
        "client": {
            "smee-url": "https://hooks.example.com/abcdefghijkl",
            "channel": "messages",
            "keepalive-interval": 10,
        },
        "server": {"auto-cert": True, "log-level": "debug", "allowed-ips": ["::1"]},
        "replay": None,
        "keygen": {},
    }
    check_config(document, Path("config.yaml"), FLAGS)


def test_layered_settings_section_overlays_top_level() -> None:
    document: dict[str, object] = {
        "log-level": "warn",
        "target-retries": 1,
        "exec": "make",
        "config": "ignored.yaml",
        "client": {
            "target-retries": 2,
            "exec": None,
            "smee-url": "https://a/abcdefghijkl",
            "target-url": "http://localhost:8080",
        },
        "server": {"port": 1},
    }
    assert list(layered_settings(document, "client")) == [
        Setting("log-level", "warn"),
        Setting("target-retries", 2, "client"),
        Setting("exec", None, "client"),
    ]
    assert list(layered_settings(document, "server")) == [
        Setting("log-level", "warn"),
        Setting("target-retries", 1),
        Setting("exec", "make"),
        Setting("port", 1, "server"),
    ]
    assert list(layered_settings(document, "keygen")) == [
        Setting("log-level", "warn"),
        Setting("target-retries", 1),
        Setting("exec", "make"),
    ]


def test_setting_where_names_the_key_and_its_section() -> None:
    assert Setting("port", 1, "server").where == 'key "port" in section "server"'
    assert Setting("output", "json").where == 'top-level key "output"'


@pytest.mark.parametrize(
    ("value", "texts"),
    [
        pytest.param(None, [], id="null"),
        pytest.param("push", ["push"], id="str"),
        pytest.param(3333, ["3333"], id="int"),
        pytest.param(2.5, ["2.5"], id="float"),
        pytest.param(True, ["true"], id="true"),
        pytest.param(False, ["false"], id="false"),
        pytest.param(["push", None, 1], ["push", "1"], id="list"),
        pytest.param([], [], id="empty-list"),
        pytest.param(
            datetime(2024, 5, 1, 10, 0, 0), ["2024-05-01T10:00:00"], id="timestamp"
        ),
        pytest.param(
            datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=2))),
            ["2024-05-01T10:00:00"],
            id="timestamp-with-offset",
        ),
        pytest.param(
            datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC),
            ["2024-05-01T10:00:00"],
            id="timestamp-utc",
        ),
        pytest.param(date(2024, 5, 1), ["2024-05-01"], id="date"),
    ],
)
def test_flag_texts(value: object, texts: list[str]) -> None:
    assert flag_texts(value) == texts


def test_positional_value_reads_the_section_as_text() -> None:
    document: dict[str, object] = {
        "client": {"smee-url": "https://a/abcdefghijkl", "target-url": None},
        "replay": {"hook-id": 12345},
        "server": None,
    }
    assert positional_value(document, "client", "smee-url") == "https://a/abcdefghijkl"
    assert positional_value(document, "client", "target-url") == ""
    assert positional_value(document, "replay", "hook-id") == "12345"
    assert positional_value(document, "replay", "org-repo") == ""
    assert positional_value(document, "server", "port") == ""
