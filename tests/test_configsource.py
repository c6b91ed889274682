"""The configuration file through the real command line parser (no processes)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest
import yaml

from gosmee_trio.cli import app
from gosmee_trio.cli.configsource import CONFIG_FILE
from gosmee_trio.config import ClientConfig, ServerConfig
from gosmee_trio.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("GOSMEE_") or name in ("NO_COLOR", "GITHUB_TOKEN"):
            monkeypatch.delenv(name)
    # No default file unless a test writes one.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(CONFIG_FILE, "root_path", None)


def _write(tmp_path: Path, document: object, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document))
    return path


def _parse(*tokens: str) -> dict[str, object]:
    _, bound, _ = app.parse_args(list(tokens))
    bound.apply_defaults()
    return dict(bound.arguments)


LAYERS = {"target-retries": 1, "client": {"target-retries": 2}}


@pytest.mark.parametrize(
    ("document", "env", "cli", "expected"),
    [
        pytest.param(None, None, [], 5, id="default"),
        pytest.param({"target-retries": 1}, None, [], 1, id="top-level"),
        pytest.param(LAYERS, None, [], 2, id="section-beats-top-level"),
        pytest.param(LAYERS, "3", [], 3, id="env-beats-file"),
        pytest.param(LAYERS, "3", ["--target-retries", "4"], 4, id="cli-beats-all"),
        pytest.param(
            {"target-retries": 1}, None, ["--target-retries=4"], 4, id="cli-equals"
        ),
    ],
)
def test_config_precedence_cli_env_section_top_level_default(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    document: object,
    env: str | None,
    cli: list[str],
    expected: int,
) -> None:
    if env is not None:
        monkeypatch.setenv("GOSMEE_TARGET_RETRIES", env)
    config = [] if document is None else ["-F", str(_write(tmp_path, document))]
    assert _parse("client", *config, *cli)["target_retries"] == expected


def test_config_lists_apply_every_element(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"ignore-event": ["star"], "client": {"ignore-event": ["push", "ping"]}},
    )
    assert _parse("client", "-F", str(path))["ignore_event"] == ["push", "ping"]


def test_config_list_given_on_the_cli_replaces_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, {"client": {"ignore-event": ["push", "ping"]}})
    values = _parse("client", "-F", str(path), "-I", "star", "-I", "fork")
    assert values["ignore_event"] == ["star", "fork"]


def test_config_list_from_env_replaces_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOSMEE_EXEC_ENV_VARS", "HOME,PATH")
    path = _write(tmp_path, {"exec-env-vars": ["USER"]})
    assert _parse("client", "-F", str(path))["exec_env_vars"] == ["HOME", "PATH"]


def test_config_scalars_and_flags_are_converted(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "server": {
                "port": 8080,
                "trust-proxy": True,
                "keepalive-interval": 2.5,
                "allowed-ips": "10.0.0.0/8",
                "tls-cert": "/etc/ssl/hooks.pem",
            }
        },
    )
    values = _parse("server", "--config", str(path))
    assert values["port"] == 8080
    assert values["trust_proxy"] is True
    assert values["keepalive_interval"] == 2.5
    assert values["allowed_ips"] == ["10.0.0.0/8"]
    assert values["tls_cert"] == Path("/etc/ssl/hooks.pem")


def test_config_false_turns_a_flag_off_only_until_the_cli_sets_it(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, {"noReplay": True, "client": {"noReplay": False}})
    assert _parse("client", "-F", str(path))["no_replay"] is False
    assert _parse("client", "-F", str(path), "--noReplay")["no_replay"] is True


def test_config_null_is_skipped_and_hides_the_top_level_value(tmp_path: Path) -> None:
    path = _write(
        tmp_path, {"exec": "make deploy", "saveDir": None, "client": {"exec": None}}
    )
    values = _parse("client", "-F", str(path))
    assert values["exec_command"] == ""
    assert values["save_dir"] is None
    assert _parse("replay", "-F", str(path))["exec_command"] == "make deploy"


def test_config_keys_that_are_not_flags_of_the_command_are_skipped(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        {
            "ignore-event": ["push"],
            "client": {"health-port": "not a port"},
            "keygen": {"key-file": "/tmp/key.json"},
        },
    )
    values = _parse("server", "-F", str(path))
    assert "ignore_event" not in values
    assert _parse("keygen", "-F", str(path))["key_file"] == Path("/tmp/key.json")


@pytest.mark.parametrize(
    ("command", "document", "problem"),
    [
        pytest.param(
            "server",
            {"server": {"port": "abc"}},
            'key "port" in section "server" must be a whole number, got \'abc\'',
            id="int",
        ),
        pytest.param(
            "client",
            {"output": "xml"},
            "top-level key \"output\" must be one of 'pretty', 'json', got 'xml'",
            id="choice",
        ),
        pytest.param(
            "client",
            {"client": {"noReplay": "maybe"}},
            'key "noReplay" in section "client" must be true or false, got \'maybe\'',
            id="bool",
        ),
        pytest.param(
            "client",
            {"client": {"exec-timeout": "soon"}},
            'key "exec-timeout" in section "client" must be a number, got \'soon\'',
            id="optional-float",
        ),
        pytest.param(
            "server",
            {"server": {"port": [1, 2]}},
            'key "port" in section "server" takes one value, got a list',
            id="list-for-one-value",
        ),
        pytest.param(
            "server",
            {"server": {"bind": "0.0.0.0"}},
            'unknown configuration key in section "server": "bind"',
            id="unknown-key",
        ),
    ],
)
def test_config_bad_values_name_the_file_and_key(
    tmp_path: Path, command: str, document: object, problem: str
) -> None:
    path = _write(tmp_path, document)
    message = f"invalid config file {path}: {problem}"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        _parse(command, "-F", str(path))


def test_config_from_gosmee_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOSMEE_CONFIG", str(_write(tmp_path, {"server": {"port": 1}})))
    assert _parse("server")["port"] == 1


def test_config_flag_beats_gosmee_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOSMEE_CONFIG", str(_write(tmp_path, {"server": {"port": 1}})))
    flag = _write(tmp_path, {"server": {"port": 2}}, "flag.yaml")
    assert _parse("server", "-F", str(flag))["port"] == 2


def test_config_before_the_command_beats_env_but_not_the_commands_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOSMEE_CONFIG", str(_write(tmp_path, {"server": {"port": 1}})))
    monkeypatch.setattr(
        CONFIG_FILE, "root_path", _write(tmp_path, {"server": {"port": 2}}, "root.yaml")
    )
    assert _parse("server")["port"] == 2
    own = _write(tmp_path, {"server": {"port": 3}}, "own.yaml")
    assert _parse("server", "-F", str(own))["port"] == 3


def test_config_default_file_in_the_user_config_dir(tmp_path: Path) -> None:
    (tmp_path / "xdg" / "gosmee").mkdir(parents=True)
    _write(tmp_path / "xdg" / "gosmee", {"server": {"port": 4}})
    assert _parse("server")["port"] == 4


def test_config_missing_default_file_is_ignored() -> None:
    assert _parse("server")["port"] == 3333
    assert CONFIG_FILE.path is None


def test_config_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    message = f"failed to read config file {path}: No such file or directory"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        _parse("keygen", "-F", str(path))


def test_config_is_not_read_for_completion(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOSMEE_CONFIG", str(tmp_path / "nowhere.yaml"))
    assert _parse("completion", "bash") == {"shell": "bash"}


def test_config_positional_values_come_from_the_running_section(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        {
            "client": {"smee-url": "https://hooks.example.com/abcdefghijkl"},
            "replay": {"org-repo": "acme/app", "hook-id": 42},
        },
    )
    _parse("client", "-F", str(path))
    assert (
        CONFIG_FILE.positional("smee-url") == "https://hooks.example.com/abcdefghijkl"
    )
    assert CONFIG_FILE.positional("target-url") == ""
    _parse("replay", "-F", str(path))
    assert CONFIG_FILE.positional("hook-id") == "42"
    assert CONFIG_FILE.positional("smee-url") == ""


def test_config_unsupported_keys_are_logged_as_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(
        tmp_path,
        {
            "insecure-skip-tls-verify": True,
            "server": {"auto-cert": True, "footer": None},
            "replay": {"noReplay": True},
        },
    )
    caplog.set_level(logging.WARNING, logger="gosmee_trio.cli.configsource")

    _parse("server", "-F", str(path))
    CONFIG_FILE.log_unsupported()
    _parse("replay", "-F", str(path))
    CONFIG_FILE.log_unsupported()

    assert [record.getMessage() for record in caplog.records] == [
        f'config file {path}: key "auto-cert" in section "server" is not supported '
        "by gosmee-trio server and is ignored (serve HTTPS with tls-cert and "
        "tls-key, or behind a proxy)",
        f'config file {path}: top-level key "insecure-skip-tls-verify" is not '
        "supported by gosmee-trio replay and is ignored",
        f'config file {path}: key "noReplay" in section "replay" is not supported '
        "by gosmee-trio replay and is ignored",
    ]


SMEE = "https://hooks.example.com/abcdefghijkl"
TARGET = "http://localhost:8080"


# Command parameters named otherwise in the config dataclasses.
_FIELDS = {"target_connection_timeout": "target_timeout"}


def _build(command: str, values: dict[str, object], name: str) -> None:
    # Builds the config as the command does, from the one value under test.
    given = {_FIELDS.get(name, name): values[name]}
    if command == "server":
        ServerConfig(**given)  # type: ignore[arg-type]
    else:
        ClientConfig(SMEE, TARGET, **given)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("command", "document", "field", "problem"),
    [
        pytest.param(
            "server",
            {"server": {"port": -5}},
            "port",
            'key "port" in section "server": --port must be between 0 and 65535, '
            "got -5",
            id="port",
        ),
        pytest.param(
            "server",
            {"server": {"max-body-size": 0}},
            "max_body_size",
            'key "max-body-size" in section "server": --max-body-size must be a '
            "positive number of bytes, got 0",
            id="max-body-size",
        ),
        pytest.param(
            "server",
            {"server": {"keepalive-interval": 0}},
            "keepalive_interval",
            'key "keepalive-interval" in section "server": --keepalive-interval '
            "must be a positive number of seconds, got 0.0",
            id="server-keepalive-interval",
        ),
        pytest.param(
            "server",
            {"server": {"cors-origin": "a\nb"}},
            "cors_origin",
            'key "cors-origin" in section "server": --cors-origin must be one '
            "line, got 'a\\nb'",
            id="cors-origin",
        ),
        pytest.param(
            "server",
            {"server": {"public-url": "ftp://x"}},
            "public_url",
            'key "public-url" in section "server": --public-url must be an http:// '
            "or https:// URL, got 'ftp://x'",
            id="public-url",
        ),
        pytest.param(
            "server",
            {"server": {"tls-key": "/etc/hostname"}},
            "tls_key",
            'key "tls-key" in section "server": --tls-cert and --tls-key must be '
            "given together",
            id="tls-key-alone",
        ),
        pytest.param(
            "server",
            {"server": {"tls-cert": "/nonexistent/cert.pem"}},
            "tls_cert",
            'key "tls-cert" in section "server": --tls-cert and --tls-key must be '
            "given together",
            id="tls-cert-alone",
        ),
        pytest.param(
            "server",
            {"server": {"redis-url": 5}},
            "redis_url",
            'key "redis-url" in section "server": --redis-url must start with '
            "redis://, rediss:// or unix://, got '5'",
            id="redis-url",
        ),
        pytest.param(
            "server",
            {"server": {"redis-stream-maxlen": -1}},
            "redis_stream_maxlen",
            'key "redis-stream-maxlen" in section "server": --redis-stream-maxlen '
            "must be 0 (no trimming) or a positive number of entries, got -1",
            id="redis-stream-maxlen",
        ),
        pytest.param(
            "client",
            {"target-connection-timeout": 0},
            "target_connection_timeout",
            'top-level key "target-connection-timeout": --target-connection-timeout '
            "must be a positive number of seconds, got 0.0",
            id="top-level-key",
        ),
        pytest.param(
            "client",
            {"client": {"health-port": 70000}},
            "health_port",
            'key "health-port" in section "client": --health-port must be between 0 '
            "and 65535, got 70000",
            id="health-port",
        ),
        pytest.param(
            "client",
            {"client": {"exec-timeout": -1}},
            "exec_timeout",
            'key "exec-timeout" in section "client": --exec-timeout must be a '
            "positive number of seconds, got -1.0",
            id="exec-timeout",
        ),
        pytest.param(
            "client",
            {"client": {"shutdown-grace": -1}},
            "shutdown_grace",
            'key "shutdown-grace" in section "client": --shutdown-grace must be '
            "zero or more seconds, got -1.0",
            id="shutdown-grace",
        ),
        pytest.param(
            "client",
            {"client": {"keepalive-interval": float("nan")}},
            "keepalive_interval",
            'key "keepalive-interval" in section "client": --keepalive-interval '
            "must be a positive number of seconds, got nan",
            id="client-keepalive-interval",
        ),
    ],
)
def test_config_values_refused_later_name_the_file_and_key(
    tmp_path: Path, command: str, document: object, field: str, problem: str
) -> None:
    path = _write(tmp_path, document)
    values = _parse(command, "-F", str(path))

    with pytest.raises(ConfigError) as caught:
        _build(command, values, field)

    message = f"invalid config file {path}: {problem}"
    assert CONFIG_FILE.explain(caught.value) == message


def test_config_flag_of_the_error_picks_the_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path, {"client": {"encryption-key-file": "/etc/gosmee/client.json"}}
    )
    values = _parse("client", "-F", str(path))
    with pytest.raises(ConfigError) as caught:
        ClientConfig(
            "https://smee.io/abcdefghijkl",
            TARGET,
            encryption_key_file=values["encryption_key_file"],  # type: ignore[arg-type]
        )
    assert CONFIG_FILE.explain(caught.value) == (
        f'invalid config file {path}: key "encryption-key-file" in section "client": '
        "client key files are only supported with gosmee server URLs, not "
        "https://smee.io"
    )


def test_config_values_from_the_cli_or_env_keep_their_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _write(
        tmp_path, {"server": {"port": -5, "redis-stream-maxlen": -1, "address": "x"}}
    )
    monkeypatch.setenv("GOSMEE_REDIS_STREAM_MAXLEN", "-2")
    values = _parse("server", "-F", str(path), "--port", "-6")
    for field in ("port", "redis_stream_maxlen"):
        with pytest.raises(ConfigError) as caught:
            _build("server", values, field)
        assert CONFIG_FILE.explain(caught.value) == str(caught.value)
    assert str(caught.value).endswith("got -2")


def test_config_flag_is_named_by_any_of_its_names(tmp_path: Path) -> None:
    path = _write(tmp_path, {"client": {"saveDir": "/etc/hostname"}})
    _parse("client", "-F", str(path))
    error = ConfigError("--saveDir '/etc/hostname' exists and is not a folder")
    where = f'invalid config file {path}: key "saveDir" in section "client"'
    assert CONFIG_FILE.explain(error) == f"{where}: {error}"
    other = ConfigError("a problem", flag="-s")
    assert CONFIG_FILE.explain(other) == f"{where}: a problem"
    assert CONFIG_FILE.explain(other, "--save-dir") == f"{where}: a problem"
    assert CONFIG_FILE.explain(ConfigError("saveDir is fine")) == "saveDir is fine"


def test_config_positional_values_are_named_by_their_key(tmp_path: Path) -> None:
    path = _write(tmp_path, {"client": {"smee-url": "ftp://x/abc"}})
    _parse("client", "-F", str(path))
    error = ConfigError("SMEE_URL must be an http:// or https:// URL")
    # Only once the command has taken the value from the file.
    assert CONFIG_FILE.explain(error) == str(error)
    assert CONFIG_FILE.positional("smee-url") == "ftp://x/abc"
    assert CONFIG_FILE.explain(error) == (
        f'invalid config file {path}: key "smee-url" in section "client": {error}'
    )
    assert CONFIG_FILE.explain(ConfigError("x", flag="TARGET_URL")) == "x"


def test_config_origins_are_forgotten_on_the_next_parse(tmp_path: Path) -> None:
    _parse("server", "-F", str(_write(tmp_path, {"server": {"port": -5}})))
    _parse("server")
    error = ConfigError("--port must be between 0 and 65535, got -5")
    assert CONFIG_FILE.explain(error) == str(error)


@pytest.mark.parametrize("value", [21021.5, 21021.0, "8080.5", "1e3", "0x1.8"])
def test_config_int_keys_refuse_fractions(tmp_path: Path, value: object) -> None:
    path = _write(tmp_path, {"server": {"port": value}})
    message = (
        f'invalid config file {path}: key "port" in section "server" must be a '
        f"whole number, got {str(value)!r}"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        _parse("server", "-F", str(path))


def test_config_int_keys_take_yaml_integers(tmp_path: Path) -> None:
    # YAML 1.1 reads 0x10 and 1_000 as integers; the flag gets their decimal text.
    path = _write(tmp_path, {})
    path.write_text("server:\n  port: 0x10\n  redis-stream-maxlen: 1_000\n")
    values = _parse("server", "-F", str(path))
    assert (values["port"], values["redis_stream_maxlen"]) == (16, 1000)
