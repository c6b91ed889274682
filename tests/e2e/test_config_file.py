"""The YAML configuration file, read by the real command line in real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
import yaml

from tests.e2e.replay_data import GUID, TOKEN, start_github
from tests.helpers import RecordingTarget

CHANNEL = "config-file-channel"
COMMAND = [sys.executable, "-m", "gosmee_trio"]


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    # Nothing from the developer's shell (GOSMEE_*, GITHUB_*, proxies) and no
    # default file from their home.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOSMEE_", "GITHUB_")) and "proxy" not in k.lower()
    }
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    env.update(extra)
    return env


def _write(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path


async def _start(
    nursery: trio.Nursery, env: dict[str, str], *args: str
) -> trio.Process:
    process: trio.Process = await nursery.start(
        partial(
            trio.run_process,
            [*COMMAND, *args],
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
    )
    return process


async def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(30):
        return await trio.run_process(
            [*COMMAND, *args],
            check=False,
            capture_stdout=True,
            capture_stderr=True,
            env=env,
        )


async def _read_until(stream: trio.abc.ReceiveStream | None, marker: bytes) -> bytes:
    assert stream is not None
    seen = b""
    while marker not in seen:
        chunk = await stream.receive_some()
        assert chunk, f"stream ended before {marker!r}; got {seen!r}"
        seen += chunk
    return seen


async def _stop(process: trio.Process) -> int:
    process.send_signal(signal.SIGINT)
    with trio.fail_after(10):
        return await process.wait()


async def test_config_file_server_section_is_honoured(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    path = _write(
        tmp_path / "gosmee.yaml",
        {"server": {"address": "127.0.0.1", "port": 0, "footer": "<b>hi</b>"}},
    )
    with trio.fail_after(30):
        server = await _start(
            nursery, _environment(tmp_path), "server", "-F", str(path)
        )
        banner = await _read_until(server.stdout, b"\n")
        # The default would be localhost:3333: both came from the file.
        assert banner.startswith(b"Serving for webhooks on http://127.0.0.1:")
        assert not banner.strip().endswith(b":3333")
        url = banner.split(b" on ", 1)[1].strip().decode()
        async with httpx.AsyncClient() as http:
            reply = await http.post(f"{url}/{CHANNEL}", content=b"{}")
        assert reply.status_code == 202
        await _read_until(
            server.stderr, b'key "footer" in section "server" is not supported'
        )
        assert await _stop(server) == 0


async def test_config_file_cli_flag_beats_the_file(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    path = _write(
        tmp_path / "gosmee.yaml",
        {
            "server": {
                "address": "127.0.0.1",
                "port": 0,
                "public-url": "https://from-file.example",
            }
        },
    )
    env = _environment(tmp_path)
    with trio.fail_after(30):
        # -F before the command name is accepted as well.
        server = await _start(
            nursery,
            env,
            "-F",
            str(path),
            "server",
            "--public-url",
            "https://from-cli.example",
        )
        banner = await _read_until(server.stdout, b"\n")
        assert banner == b"Serving for webhooks on https://from-cli.example\n"
        assert await _stop(server) == 0


async def test_config_file_client_section_supplies_the_urls(
    nursery: trio.Nursery, tmp_path: Path, server_url: str, target: RecordingTarget
) -> None:
    path = _write(
        tmp_path / "gosmee.yaml",
        {
            "client": {
                "smee-url": f"{server_url}/{CHANNEL}",
                "target-url": f"{target.url}/from-file",
            }
        },
    )
    env = _environment(tmp_path, GOSMEE_CONFIG=str(path))
    with trio.fail_after(30):
        client = await _start(nursery, env, "client")
        await _read_until(client.stderr, b"stream ready")
        async with httpx.AsyncClient() as http:
            reply = await http.post(f"{server_url}/{CHANNEL}", content=b'{"n":1}')
        assert reply.status_code == 202
        received = await target.next()
        assert (received.path, received.body) == ("/from-file", b'{"n":1}')
        assert await _stop(client) == 0


@pytest.mark.parametrize("where", ["root", "command", "env", "default"])
async def test_config_file_is_found(tmp_path: Path, where: str) -> None:
    key_file = tmp_path / "client-key.json"
    document = {"keygen": {"key-file": str(key_file)}}
    env = _environment(tmp_path)
    args = ["keygen"]
    if where == "default":
        _write(tmp_path / "xdg" / "gosmee" / "config.yaml", document)
    else:
        path = str(_write(tmp_path / "gosmee.yaml", document))
        if where == "env":
            env["GOSMEE_CONFIG"] = path
        else:
            args = ["-F", path, *args] if where == "root" else [*args, "-F", path]

    result = await _run(env, *args)

    assert result.returncode == 0, result.stderr
    assert set(json.loads(key_file.read_text())) == {"public_key", "private_key"}
    assert result.stdout.count(b"\n") == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            None,
            "failed to read config file {path}: No such file or directory",
            id="missing",
        ),
        pytest.param(
            "keygen: [key-file\n",
            "failed to parse YAML config file {path}: expected ',' or ']', but got "
            "'<stream end>' (line 2, column 1)",
            id="bad-yaml",
        ),
        pytest.param(
            "keygen:\n  keyfile: x\n",
            "invalid config file {path}: unknown configuration key in section "
            '"keygen": "keyfile"',
            id="unknown-key",
        ),
        pytest.param(
            "keygen:\n  force: maybe\n",
            'invalid config file {path}: key "force" in section "keygen" must be true '
            "or false, got 'maybe'",
            id="bad-value",
        ),
    ],
)
async def test_config_file_errors_are_one_line(
    tmp_path: Path, text: str | None, problem: str
) -> None:
    path = tmp_path / "gosmee.yaml"
    if text is not None:
        path.write_text(text)

    result = await _run(_environment(tmp_path), "keygen", "-F", str(path))

    assert result.returncode == 1
    assert result.stdout == b""
    expected = f"gosmee-trio: error: {problem.format(path=path)}\n"
    assert result.stderr.decode() == expected


SMEE_URL = "http://127.0.0.1:1/abcdefghijkl"


@pytest.mark.parametrize(
    ("args", "text", "problem"),
    [
        pytest.param(
            ["server"],
            "server:\n  port: -5\n",
            'key "port" in section "server": --port must be between 0 and 65535, '
            "got -5",
            id="port-range",
        ),
        pytest.param(
            ["server"],
            "server:\n  port: 21021.5\n",
            'key "port" in section "server" must be a whole number, got \'21021.5\'',
            id="port-fraction",
        ),
        pytest.param(
            ["server"],
            "server:\n  allowed-ips: nonsense\n",
            'key "allowed-ips" in section "server": failed to parse allowed IPs: '
            "invalid IP address 'nonsense'",
            id="allowed-ips",
        ),
        pytest.param(
            ["server"],
            "server:\n  redis-stream-maxlen: -1\n",
            'key "redis-stream-maxlen" in section "server": --redis-stream-maxlen '
            "must be 0 (no trimming) or a positive number of entries, got -1",
            id="redis-stream-maxlen",
        ),
        pytest.param(
            ["server"],
            "server:\n  address: 127.0.0.1\n  port: 0\n  port: 1\n",
            'key "port" in section "server" is given twice (lines 3 and 4)',
            id="duplicate-key",
        ),
        pytest.param(
            ["client", SMEE_URL, "http://127.0.0.1:1"],
            "client:\n  sse-buffer-size: 5\n",
            'key "sse-buffer-size" in section "client": --sse-buffer-size must be at '
            "least 4096, got 5",
            id="sse-buffer-size",
        ),
        pytest.param(
            ["client", "--exec", "true"],
            "client:\n  smee-url: ftp://nope/abcdefghijkl\n",
            'key "smee-url" in section "client": SMEE_URL must be an http:// or '
            "https:// URL, got 'ftp://nope/abcdefghijkl'",
            id="smee-url",
        ),
        pytest.param(
            ["client", SMEE_URL, "http://127.0.0.1:1"],
            "saveDir: {path}\n",
            "top-level key \"saveDir\": --saveDir '{path}' exists and is not a folder",
            id="save-dir",
        ),
    ],
)
async def test_config_file_value_errors_name_the_file_and_key(
    tmp_path: Path, args: list[str], text: str, problem: str
) -> None:
    path = tmp_path / "gosmee.yaml"
    path.write_text(text.format(path=path))

    result = await _run(_environment(tmp_path), *args, "-F", str(path))

    assert result.returncode == 1
    expected = f"gosmee-trio: error: invalid config file {path}: {problem}\n"
    assert result.stderr.decode() == expected.format(path=path)


async def test_config_file_cli_and_env_values_keep_their_messages(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path / "gosmee.yaml", {"server": {"port": 1, "redis-stream-maxlen": 5}}
    )
    args = ["server", "-F", str(path)]

    from_cli = await _run(_environment(tmp_path), *args, "--port", "-5")
    env = _environment(tmp_path, GOSMEE_REDIS_STREAM_MAXLEN="-1")
    from_env = await _run(env, *args, "--port", "0")

    assert (from_cli.returncode, from_env.returncode) == (1, 1)
    assert from_cli.stderr.decode() == (
        "gosmee-trio: error: --port must be between 0 and 65535, got -5\n"
    )
    assert from_env.stderr.decode() == (
        "gosmee-trio: error: --redis-stream-maxlen must be 0 (no trimming) or a "
        "positive number of entries, got -1\n"
    )


async def test_config_file_fractions_are_refused_on_the_cli_too(
    tmp_path: Path,
) -> None:
    # Wide enough that cyclopts' error box keeps the message on one line.
    env = _environment(tmp_path, COLUMNS="200")
    result = await _run(env, "server", "--redis-stream-maxlen", "1.5")

    assert result.returncode == 2
    problem = "Invalid value for --redis-stream-maxlen: must be a whole number, got"
    assert f"{problem} '1.5'" in result.stderr.decode()


async def test_config_file_replay_section_supplies_the_arguments(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    github = await start_github(nursery)
    path = _write(
        tmp_path / "gosmee.yaml",
        {
            "replay": {
                "org-repo": "octo/hello",
                "hook-id": 7,
                "github-token": TOKEN,
                "github-api-url": github.url,
                "time-since": datetime(2024, 5, 1, 12, 3, 0),
            }
        },
    )
    env = _environment(tmp_path)
    result = await _run(env, "replay", "-F", str(path), "--list-deliveries")

    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.decode().splitlines()] == [
        "ID",
        "222",
        "150",
        "410",
    ]


# Weakest first: each layer sets saveDir to a folder of its own name, so the one
# folder the delivery is saved in names the layer that won.
SAVE_DIR_LAYERS = ("top-level", "section", "env", "cli")


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(
            SAVE_DIR_LAYERS[:count], id="+".join(("default", *SAVE_DIR_LAYERS[:count]))
        )
        for count in range(len(SAVE_DIR_LAYERS) + 1)
    ],
)
async def test_config_file_precedence_is_cli_env_section_top_level_default(
    nursery: trio.Nursery,
    tmp_path: Path,
    target: RecordingTarget,
    given: tuple[str, ...],
) -> None:
    # saveDir is a key both at the top level and in replay's section, and has an
    # environment variable; replay saves each delivery before forwarding it, so
    # once the target has it the winning folder holds its files.
    folders = {layer: tmp_path / layer for layer in SAVE_DIR_LAYERS}
    document: dict[str, object] = {"replay": {}}
    if "top-level" in given:
        document["saveDir"] = str(folders["top-level"])
    if "section" in given:
        document["replay"] = {"saveDir": str(folders["section"])}
    path = _write(tmp_path / "gosmee.yaml", document)
    env = _environment(tmp_path)
    if "env" in given:
        env["GOSMEE_SAVEDIR"] = str(folders["env"])
    cli = ["--saveDir", str(folders["cli"])] if "cli" in given else []
    github = await start_github(nursery)

    with trio.fail_after(40):
        replay = await _start(
            nursery,
            env,
            "replay",
            "-F",
            str(path),
            *cli,
            "-t",
            TOKEN,
            "--github-api-url",
            github.url,
            # Only the newest of the sample deliveries.
            "-T",
            "2024-05-01T12:05:00",
            "octo/hello",
            "7",
            target.url,
        )
        received = await target.next()
        saved = {
            layer: sorted(p.suffix for p in folder.iterdir())
            for layer, folder in folders.items()
            if folder.exists()
        }
        assert await _stop(replay) == 0

    assert received.header("x-github-delivery") == f"{GUID}222"
    winner = given[-1:]
    assert saved == {layer: [".json", ".sh"] for layer in winner}
