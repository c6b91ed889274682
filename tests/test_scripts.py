from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from gosmee_trio.client.message import IncomingEvent
from gosmee_trio.client.scripts import (
    curl_header_token,
    httpie_header_token,
    replay_script,
    sendable_headers,
    shell_quote,
)


def _event(
    headers: tuple[tuple[str, str], ...] = (
        ("Content-Type", "application/json"),
        ("X-Github-Event", "push"),
    ),
    content_type: str = "application/json",
) -> IncomingEvent:
    return IncomingEvent(
        stream_id="",
        headers=headers,
        body=b"{}",
        query=(),
        event_type="push",
        delivery_id="d-1",
        content_type=content_type,
        timestamp_ms=0,
    )


def _script(event: IncomingEvent, *, httpie: bool = False) -> str:
    return replay_script(
        event,
        base="push-1970-01-01T00.00.00.000",
        default_target="http://example.com/target",
        local_debug_url="http://localhost:8080",
        httpie=httpie,
    )


async def _bash_words(tokens: list[str], cwd: Path) -> list[str]:
    """What bash makes of ``tokens`` as arguments: one string per argument."""
    command = "printf '%s\\0' " + " ".join(tokens)
    with trio.fail_after(10):
        done = await trio.run_process(
            ["bash", "-c", command], cwd=cwd, capture_stdout=True, capture_stderr=True
        )
    return done.stdout.decode().split("\0")[:-1]


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        pytest.param("application/json", "'application/json'", id="plain"),
        pytest.param("a b c", "'a b c'", id="spaces"),
        pytest.param("", "''", id="empty"),
        pytest.param("a'b", "'a'\\''b'", id="quote"),
        pytest.param("$(rm -rf ~)", "'$(rm -rf ~)'", id="command-substitution"),
        pytest.param("x'; rm -rf ~ #", "'x'\\''; rm -rf ~ #'", id="quote-breakout"),
        pytest.param("`id`", "'`id`'", id="backticks"),
        pytest.param("a\nb", "'a\nb'", id="newline"),
    ],
)
def test_shell_quote_makes_one_single_quoted_word(value: str, quoted: str) -> None:
    # behaviour case 105
    assert shell_quote(value) == quoted


def test_header_tokens_quote_a_breakout_attempt() -> None:
    # behaviour case 106
    value = "x'; touch /tmp/pwned #"
    assert curl_header_token("X-Evil", value) == "'X-Evil: x'\\''; touch /tmp/pwned #'"
    assert httpie_header_token("X-Evil", value) == "'X-Evil:x'\\''; touch /tmp/pwned #'"


@pytest.mark.parametrize(
    ("value", "curl", "httpie"),
    [
        pytest.param("", "'X-A;'", "'X-A;'", id="empty-is-sent-empty"),
        pytest.param("=1", "'X-A: =1'", "'X-A:\\=1'", id="leading-equals"),
        pytest.param(
            "@/etc/passwd",
            "'X-A: @/etc/passwd'",
            "'X-A:\\@/etc/passwd'",
            id="leading-at",
        ),
        pytest.param("a=b@c", "'X-A: a=b@c'", "'X-A:a=b@c'", id="inner-separators"),
    ],
)
def test_header_tokens_keep_values_literal(value: str, curl: str, httpie: str) -> None:
    assert curl_header_token("X-A", value) == curl
    assert httpie_header_token("X-A", value) == httpie


EVIL_VALUES = [
    pytest.param("x'; touch pwned #", id="quote-breakout"),
    pytest.param("$(touch pwned)", id="command-substitution"),
    pytest.param("`touch pwned`", id="backticks"),
    pytest.param("a; touch pwned", id="semicolon"),
    pytest.param("a\ntouch pwned", id="newline"),
    pytest.param("\"$HOME\" \\ '*'", id="quotes-and-glob"),
]


@pytest.mark.parametrize("value", EVIL_VALUES)
async def test_header_tokens_expand_to_one_intact_argument(
    value: str, tmp_path: Path
) -> None:
    # behaviour case 108: bash sees exactly one argument per header, as written
    tokens = [
        curl_header_token("X-Evil", value),
        httpie_header_token("X-Evil", value),
        shell_quote(value),
    ]
    words = await _bash_words(tokens, tmp_path)
    assert words == [f"X-Evil: {value}", f"X-Evil:{value}", value]
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("X-Nl", "a\nb", id="line-feed"),
        pytest.param("X-Cr", "a\rb", id="carriage-return"),
        pytest.param("X-Nul", "a\x00b", id="nul"),
        pytest.param("X-Surrogate", "a\ud800", id="lone-surrogate"),
        pytest.param("@X-File", "x", id="name-not-a-token"),
        pytest.param("X A", "x", id="name-with-space"),
    ],
)
def test_sendable_headers_leave_out_what_cannot_go_on_the_wire(
    name: str, value: str
) -> None:
    event = _event((("X-Keep", "k'$(x)"), (name, value)))
    assert sendable_headers(event) == ([("X-Keep", "k'$(x)")], 1)
    script = _script(event)
    assert "# NOTE: 1 header(s) left out" in script
    assert name not in script.split("# NOTE")[1]


@pytest.mark.parametrize("httpie", [False, True], ids=["curl", "httpie"])
def test_replay_script_has_the_content_type_once(httpie: bool) -> None:
    script = _script(_event(), httpie=httpie)
    assert script.count("Content-Type") == 1


@pytest.mark.parametrize(
    ("headers", "content_type", "curl", "httpie"),
    [
        pytest.param(
            (("X-Github-Event", "push"),),
            "text/plain",
            "-H 'Content-Type: text/plain'",
            "'Content-Type:text/plain'",
            id="from-the-field",
        ),
        pytest.param(
            (("X-Github-Event", "push"),),
            "",
            "-H 'Content-Type:'",
            "'Content-Type:'",
            id="none-removes-the-tool-default",
        ),
        pytest.param(
            (("Content-Type", ""),),
            "",
            "-H 'Content-Type;'",
            "'Content-Type;'",
            id="empty-is-sent-empty",
        ),
    ],
)
def test_replay_script_content_type(
    headers: tuple[tuple[str, str], ...], content_type: str, curl: str, httpie: str
) -> None:
    event = _event(headers, content_type)
    assert curl in _script(event)
    assert httpie in _script(event, httpie=True)


def test_curl_script_command_shape() -> None:
    script = _script(_event((("Content-Type", "application/json"), ("X-A", "1"))))
    assert script.endswith(
        'curl "${client_flags[@]}" \\\n'
        "    -H 'Content-Type: application/json' \\\n"
        "    -H 'X-A: 1' \\\n"
        "    -X POST --data-binary '@./push-1970-01-01T00.00.00.000.json' \\\n"
        '    --url "$target_url"\n'
    )
    assert "client_flags=(-sSi)\nverbose_flags=(-v)\n" in script


def test_httpie_script_command_shape() -> None:
    script = _script(
        _event((("Content-Type", "application/json"), ("X-A", "1"))), httpie=True
    )
    assert script.endswith(
        'http "${client_flags[@]}" -- POST "$target_url" \\\n'
        "    'Content-Type:application/json' \\\n"
        "    'X-A:1' \\\n"
        "    < './push-1970-01-01T00.00.00.000.json'\n"
    )
    assert "client_flags=(--follow --print=HhBb)\nverbose_flags=(--verbose)\n" in script


async def test_replay_script_quotes_urls_and_passes_bash_syntax_check(
    tmp_path: Path,
) -> None:
    hostile = "http://x/'$(touch pwned)`touch pwned`\n; touch pwned"
    script = replay_script(
        _event(),
        base="b",
        default_target=hostile,
        local_debug_url=hostile + "/local",
        httpie=False,
    )
    assert f"default_target={shell_quote(hostile)}\n" in script
    path = tmp_path / "b.sh"
    path.write_text(script)
    os.chmod(path, 0o755)

    with trio.fail_after(10):
        checked = await trio.run_process(["bash", "-n", str(path)], check=False)
        helped = await trio.run_process(
            [str(path), "-h"], cwd=tmp_path, capture_stdout=True, check=False
        )
    assert checked.returncode == 0
    assert helped.returncode == 0
    assert f"Default target: {hostile}\n" in helped.stdout.decode()
    assert f"send to the local debug URL: {hostile}/local\n" in helped.stdout.decode()
    assert not (tmp_path / "pwned").exists()
