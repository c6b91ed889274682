"""Saved replay scripts run for real: bash, GNU getopt, curl and HTTPie."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trio

from gosmee_trio.client.forwarder import target_with_query
from gosmee_trio.client.message import IncomingEvent
from gosmee_trio.client.savedir import SavedEvent, save_event
from tests.helpers import Received, RecordingTarget

# Every byte value that a text-mode tool could eat or mangle: NUL, CR, LF, 0xFF.
BINARY_BODY = b'{"a": 1}\r\n\x00\xff\xfe\n\r\x00 end\n'
FLAVOURS = [
    pytest.param(False, id="curl"),
    pytest.param(True, id="httpie"),
]


def _event(
    *extra: tuple[str, str], content_type: str = "application/json"
) -> IncomingEvent:
    return IncomingEvent(
        stream_id="1700000000000-0",
        headers=(
            ("Content-Type", content_type),
            ("X-Github-Event", "push"),
            ("X-Github-Delivery", "d-1"),
            *extra,
        ),
        body=BINARY_BODY,
        query=(("a", "1"), ("b", "x y")),
        event_type="push",
        delivery_id="d-1",
        content_type=content_type,
        timestamp_ms=1700000000000,
    )


@pytest.fixture
def tools_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: our venv's ``http`` on PATH, no proxies, no user config."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    for tool in ("bash", "getopt", "curl", "http"):
        if shutil.which(tool, path=path) is None:
            pytest.skip(f"{tool} is not installed; install the dev extras")
    httpie_config = tmp_path / "httpie"
    httpie_config.mkdir()
    # HTTPie would otherwise fetch release news from the internet in the background.
    (httpie_config / "config.json").write_text(
        json.dumps({"disable_update_warnings": True})
    )
    return {
        "PATH": path,
        "HOME": str(tmp_path),
        "HTTPIE_CONFIG_DIR": str(httpie_config),
        "LANG": "C.UTF-8",
    }


def _save(
    directory: Path, event: IncomingEvent, target: str, httpie: bool
) -> SavedEvent:
    return save_event(
        directory,
        event,
        target_url=f"{target}/default",
        local_debug_url=f"{target}/local",
        httpie=httpie,
    )


async def _run(
    saved: SavedEvent,
    env: dict[str, str],
    *args: str,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(30):
        return await trio.run_process(
            [str(saved.script_path), *args],
            cwd=cwd,
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def _received(target: RecordingTarget) -> Received:
    with trio.fail_after(5):
        return await target.next()


@pytest.mark.parametrize("httpie", FLAVOURS)
async def test_replay_script_passes_bash_syntax_check(
    tmp_path: Path, httpie: bool
) -> None:
    saved = _save(tmp_path / "saved", _event(), "http://127.0.0.1:9", httpie)
    with trio.fail_after(10):
        checked = await trio.run_process(
            ["bash", "-n", str(saved.script_path)], capture_stderr=True, check=False
        )
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("httpie", FLAVOURS)
async def test_replay_script_sends_exact_bytes_and_headers(
    tmp_path: Path, tools_env: dict[str, str], target: RecordingTarget, httpie: bool
) -> None:
    saved = _save(tmp_path / "saved", _event(), target.url, httpie)

    # From another directory: the script must find its body next to itself.
    done = await _run(saved, tools_env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    received = await _received(target)

    assert received.method == "POST"
    assert received.body == BINARY_BODY
    assert received.path == "/default"
    expected_url = target_with_query(f"{target.url}/default", _event().query)
    assert received.query == urlsplit(expected_url).query.encode()
    assert received.header("content-type") == "application/json"
    assert received.header_names().count("content-type") == 1
    assert received.header("x-github-event") == "push"
    assert received.header("x-github-delivery") == "d-1"
    assert f"Replaying webhook to: {expected_url}\n" in done.stdout.decode(
        errors="replace"
    )


@pytest.mark.parametrize("httpie", FLAVOURS)
async def test_replay_script_without_content_type_sends_none(
    tmp_path: Path, tools_env: dict[str, str], target: RecordingTarget, httpie: bool
) -> None:
    event = IncomingEvent(
        stream_id="",
        headers=(("X-Github-Event", "push"),),
        body=b"raw",
        query=(),
        event_type="push",
        delivery_id="",
        content_type="",
        timestamp_ms=1700000000000,
    )
    saved = _save(tmp_path, event, target.url, httpie)

    done = await _run(saved, tools_env)
    assert done.returncode == 0, done.stderr
    received = await _received(target)
    assert received.body == b"raw"
    assert "content-type" not in received.header_names()


EVIL_VALUES = [
    pytest.param("x'; touch {sentinel} #", id="quote-breakout"),
    pytest.param("$(touch {sentinel})", id="command-substitution"),
    pytest.param("`touch {sentinel}`", id="backticks"),
    pytest.param("a; touch {sentinel}", id="semicolon"),
    pytest.param('"; touch {sentinel}; "', id="double-quotes"),
]


@pytest.mark.parametrize("httpie", FLAVOURS)
@pytest.mark.parametrize("template", EVIL_VALUES)
async def test_replay_script_header_breakout_runs_nothing(
    tmp_path: Path,
    tools_env: dict[str, str],
    target: RecordingTarget,
    template: str,
    httpie: bool,
) -> None:
    # behaviour cases 107 and 108: the value arrives intact and runs nothing
    sentinel = tmp_path / "pwned"
    value = template.format(sentinel=sentinel)
    event = _event(
        ("X-Evil", value),
        ("X-Newline", f"a\ntouch {sentinel}"),
        content_type=f"application/json{value}",
    )
    saved = _save(tmp_path / "saved", event, target.url, httpie)

    done = await _run(saved, tools_env)
    assert not sentinel.exists()
    assert done.returncode == 0, done.stderr
    received = await _received(target)

    assert received.header("x-evil") == value
    assert received.header("content-type") == f"application/json{value}"
    # A line break cannot go on the wire as it came; the script leaves it out.
    assert received.header("x-newline") is None
    assert received.body == BINARY_BODY


@pytest.mark.parametrize(
    ("args", "debug_service", "path"),
    [
        pytest.param((), None, "/default", id="default"),
        pytest.param(("-t", "{url}/t"), None, "/t", id="target-short"),
        pytest.param(("--target={url}/t",), None, "/t", id="target-long"),
        pytest.param(("{url}/positional",), None, "/positional", id="positional"),
        pytest.param(("-l",), None, "/local", id="local-short"),
        pytest.param(("--local",), None, "/local", id="local-long"),
        pytest.param((), "{url}/env", "/env", id="env"),
        pytest.param(("-t", "{url}/t"), "{url}/env", "/env", id="env-beats-target"),
        pytest.param(("{url}/positional",), "{url}/env", "/env", id="env-beats-url"),
        pytest.param(("-l",), "{url}/env", "/local", id="local-beats-env"),
        pytest.param(("-t", "{url}/t"), "", "/t", id="empty-env-ignored"),
    ],
)
async def test_replay_script_target_precedence(
    tmp_path: Path,
    tools_env: dict[str, str],
    target: RecordingTarget,
    args: tuple[str, ...],
    debug_service: str | None,
    path: str,
) -> None:
    saved = _save(tmp_path, _event(), target.url, httpie=False)
    env = dict(tools_env)
    if debug_service is not None:
        env["GOSMEE_DEBUG_SERVICE"] = debug_service.format(url=target.url)

    done = await _run(saved, env, *(arg.format(url=target.url) for arg in args))
    assert done.returncode == 0, done.stderr
    received = await _received(target)
    assert received.path == path
    assert f"Replaying webhook to: {target.url}{path}" in done.stdout.decode(
        errors="replace"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b"),
            "expected at most one URL, got 2 arguments",
            id="two-urls",
        ),
        pytest.param(
            ("--bogus",), "unrecognized option '--bogus'", id="unknown-option"
        ),
        pytest.param(
            ("-t",), "option requires an argument -- 't'", id="missing-argument"
        ),
    ],
)
async def test_replay_script_rejects_bad_arguments(
    tmp_path: Path,
    tools_env: dict[str, str],
    target: RecordingTarget,
    args: tuple[str, ...],
    message: str,
) -> None:
    saved = _save(tmp_path, _event(), target.url, httpie=False)
    done = await _run(saved, tools_env, *args)
    assert done.returncode == 1
    assert f"{saved.script_path.name}: {message}" in done.stderr.decode()
    assert target.received == []


async def test_replay_script_without_any_target_says_how_to_give_one(
    tmp_path: Path, tools_env: dict[str, str]
) -> None:
    saved = save_event(tmp_path, _event(), target_url="")
    done = await _run(saved, tools_env)
    assert done.returncode == 1
    assert done.stderr.decode() == (
        f"{saved.script_path.name}: no target URL: give one as URL, with -t URL or -l\n"
    )


@pytest.mark.parametrize("httpie", FLAVOURS)
async def test_replay_script_help(
    tmp_path: Path, tools_env: dict[str, str], httpie: bool
) -> None:
    saved = _save(tmp_path, _event(), "http://127.0.0.1:9", httpie)
    done = await _run(saved, tools_env, "--help")
    assert done.returncode == 0
    usage = done.stdout.decode()
    name = saved.script_path.name
    assert usage.startswith(
        f"Usage: {name} [-l|--local] [-t|--target URL] [-v|--verbose] [-h|--help]"
        " [URL]\n"
    )
    for option in ("-l, --local", "-t, --target URL", "-v, --verbose", "-h, --help"):
        assert f"  {option}" in usage
    assert "send to the local debug URL: http://127.0.0.1:9/local\n" in usage
    assert "GOSMEE_DEBUG_SERVICE" in usage
    assert f"  {name} -t http://localhost:9000/hook\n" in usage
    assert ("http command must be installed" in usage) is httpie


@pytest.mark.parametrize(
    ("httpie", "trace"),
    [
        pytest.param(False, "+ curl -sSi -v", id="curl"),
        pytest.param(True, "+ http --follow --print=HhBb --verbose", id="httpie"),
    ],
)
async def test_replay_script_verbose_traces_the_command(
    tmp_path: Path,
    tools_env: dict[str, str],
    target: RecordingTarget,
    httpie: bool,
    trace: str,
) -> None:
    saved = _save(tmp_path, _event(), target.url, httpie)
    done = await _run(saved, tools_env, "-v")
    assert done.returncode == 0, done.stderr
    assert trace in done.stderr.decode(errors="replace")
    assert (await _received(target)).body == BINARY_BODY
