from __future__ import annotations

from pathlib import Path

import pytest

from gosmee_trio.config import ClientConfig, ServerConfig, is_valid_channel
from gosmee_trio.errors import ConfigError


@pytest.mark.parametrize(
    ("channel", "valid"),
    [
        ("a" * 12, True),
        ("a" * 64, True),
        ("a" * 11, False),
        ("a" * 65, False),
        ("abc_DEF-123xyz", True),
        ("abc.def.ghi.jk", False),
        ("abcdefghijk\u00e9", False),
    ],
)
def test_channel_ids(channel: str, valid: bool) -> None:
    assert is_valid_channel(channel) is valid


@pytest.mark.parametrize(
    ("config", "url"),
    [
        (ServerConfig(), "http://localhost:3333"),
        (
            ServerConfig(public_url="https://hooks.example.com/"),
            "https://hooks.example.com",
        ),
        (ServerConfig(address="::1", port=0), "http://[::1]:0"),
    ],
)
def test_effective_public_url(config: ServerConfig, url: str) -> None:
    assert config.effective_public_url() == url


def test_effective_public_url_uses_bound_port() -> None:
    assert ServerConfig(port=0).effective_public_url(4321) == "http://localhost:4321"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"port": 70000}, r"^--port must be between 0 and 65535, got 70000$"),
        (
            {"max_body_size": 0},
            r"^--max-body-size must be a positive number of bytes, got 0$",
        ),
        (
            {"keepalive_interval": 0},
            r"^--keepalive-interval must be a positive number of seconds, got 0$",
        ),
    ],
)
def test_server_config_errors_name_the_flag(
    values: dict[str, int], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerConfig(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("smee_url", "target", "extra", "message"),
    [
        ("", "http://t", {}, r"^need at least a smeeURL and a targetURL"),
        (
            "ws://x/abcdefghijkl",
            "http://t",
            {},
            r"^SMEE_URL must be an http:// or https:// URL",
        ),
        ("http://x/abcdefghijkl", "file:///etc", {}, r"^TARGET_URL must be an http://"),
        (
            "http://x/abcdefghijkl",
            "http://t",
            {"last_event_id": "nope"},
            r"^resume id must be a stream id like '1718000000125-0', got 'nope'$",
        ),
    ],
)
def test_client_config_errors(
    smee_url: str, target: str, extra: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ClientConfig(smee_url, target, **extra)  # type: ignore[arg-type]


def test_client_config_negative_retries_mean_none_and_watchdog_scales() -> None:
    config = ClientConfig(
        "http://x/abcdefghijkl", "http://t", target_retries=-3, keepalive_interval=10
    )
    assert config.target_retries == 0
    assert config.watchdog_timeout == 25


def test_key_file_with_smee_stream_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^client key files are only supported"):
        ClientConfig(
            "http://x/abcdefghijkl",
            "http://t",
            encryption_key_file=tmp_path / "k.json",
            smee_stream=True,
        )
