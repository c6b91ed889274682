"""What the commands share (``cli/common.py``): integer options, error exits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from cyclopts import Token
from cyclopts.exceptions import CycloptsError

from gosmee_trio.cli import app
from gosmee_trio.cli.common import checked, fail_config, whole_number
from gosmee_trio.cli.configsource import CONFIG_FILE
from gosmee_trio.config import ServerConfig
from gosmee_trio.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("GOSMEE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(CONFIG_FILE, "root_path", None)


def _token(value: str) -> tuple[Token]:
    return (Token(keyword="--port", value=value),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("8080", 8080, id="decimal"),
        pytest.param("-5", -5, id="negative"),
        pytest.param("+7", 7, id="plus"),
        pytest.param(" 42 ", 42, id="spaces"),
        pytest.param("1_000", 1000, id="underscores"),
        pytest.param("0x1F", 31, id="hex"),
        pytest.param("-0x10", -16, id="negative-hex"),
        pytest.param("0o17", 15, id="octal"),
        pytest.param("0b101", 5, id="binary"),
        pytest.param("0", 0, id="zero"),
    ],
)
def test_whole_number_reads_integers(text: str, expected: int) -> None:
    assert whole_number(int, _token(text)) == expected


@pytest.mark.parametrize(
    "text",
    ["21021.5", "1.0", ".5", "1e3", "inf", "nan", "abc", "", "0x", "٣", "1 2"],
)
def test_whole_number_refuses_anything_else(text: str) -> None:
    message = f"must be a whole number, got {text!r}"
    with pytest.raises(ValueError, match=f"^{message}$"):
        whole_number(int, _token(text))


def _int_arguments() -> list[tuple[str, str, object]]:
    found: list[tuple[str, str, object]] = []
    for name in ("client", "server", "replay", "keygen", "completion"):
        for argument in app[name].assemble_argument_collection():
            if argument.hint is int:
                found.append((name, argument.name, argument.parameter.converter))
    return found


def test_cli_every_int_option_refuses_fractions() -> None:
    found = _int_arguments()
    assert {(command, flag) for command, flag, _ in found} >= {
        ("server", "--port"),
        ("client", "--health-port"),
        ("replay", "--target-retries"),
    }
    assert [flag for _, flag, converter in found if converter is not whole_number] == []


@pytest.mark.parametrize(
    ("tokens", "env", "shown"),
    [
        pytest.param(["--port", "21021.5"], {}, "--port", id="flag"),
        pytest.param(["--port=1.5"], {}, "--port", id="flag-equals"),
        pytest.param(["-p", "2.0"], {}, "-p", id="short-flag"),
        pytest.param(
            [],
            {"GOSMEE_REDIS_STREAM_MAXLEN": "1.5"},
            "GOSMEE_REDIS_STREAM_MAXLEN",
            id="env",
        ),
    ],
)
def test_cli_int_options_refuse_fractions(
    monkeypatch: pytest.MonkeyPatch, tokens: list[str], env: dict[str, str], shown: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(CycloptsError) as caught:
        app.parse_args(["server", *tokens], exit_on_error=False, print_error=False)
    value = (tokens[-1].partition("=")[2] or tokens[-1]) if tokens else "1.5"
    expected = f"Invalid value for {shown}: must be a whole number, got {value!r}"
    assert str(caught.value).strip() == expected


def _parse_server(tmp_path: Path, document: object, *tokens: str) -> dict[str, object]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    _, bound, _ = app.parse_args(["server", "-F", str(path), *tokens])
    bound.apply_defaults()
    return dict(bound.arguments)


def test_checked_names_the_config_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = _parse_server(tmp_path, {"server": {"port": -5}})
    with pytest.raises(SystemExit) as exited:
        checked(ServerConfig, port=values["port"])
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        f"gosmee-trio: error: invalid config file {tmp_path / 'config.yaml'}: "
        'key "port" in section "server": --port must be between 0 and 65535, '
        "got -5\n"
    )


def test_checked_keeps_the_message_for_a_cli_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = _parse_server(tmp_path, {"server": {"port": -5}}, "--port", "-6")
    with pytest.raises(SystemExit):
        checked(ServerConfig, port=values["port"])
    assert capsys.readouterr().err == (
        "gosmee-trio: error: --port must be between 0 and 65535, got -6\n"
    )


def test_fail_config_takes_the_flag_when_the_message_does_not_name_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _parse_server(tmp_path, {"server": {"allowed-ips": "nonsense"}})
    error = ConfigError("failed to parse allowed IPs: invalid IP address 'nonsense'")
    with pytest.raises(SystemExit):
        fail_config(error, "--allowed-ips")
    assert capsys.readouterr().err == (
        f"gosmee-trio: error: invalid config file {tmp_path / 'config.yaml'}: "
        f'key "allowed-ips" in section "server": {error}\n'
    )
