"""``gosmee-trio completion``: real processes, scripts the shells accept."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gosmee_trio.cli import app

COMMAND = [sys.executable, "-m", "gosmee_trio", "completion"]
SUBCOMMANDS = sorted(name for name in app if not name.startswith("-"))


def _completion(shell: str) -> subprocess.CompletedProcess[str]:
    # A wide console, so that error panels never wrap the message being checked.
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [*COMMAND, shell],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env=env,
    )


def test_completion_bash_is_valid_bash_naming_commands_and_options() -> None:
    result = _completion("bash")
    assert result.returncode == 0, result.stderr
    script = result.stdout

    bash = shutil.which("bash")
    assert bash is not None
    syntax = subprocess.run(
        [bash, "-n"], input=script, capture_output=True, text=True, check=False
    )
    assert syntax.returncode == 0, syntax.stderr

    assert {"client", "server", "keygen", "completion"} <= set(SUBCOMMANDS)
    for name in SUBCOMMANDS:
        assert name in script
    for option in ("--public-url", "--webhook-signature", "--saveDir", "--exec"):
        assert option in script
    assert "complete -F" in script and "gosmee-trio" in script


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_completion_zsh_and_fish_scripts_name_the_commands(shell: str) -> None:
    result = _completion(shell)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    for name in SUBCOMMANDS:
        assert name in result.stdout


def test_completion_unknown_shell_is_a_clear_usage_error() -> None:
    result = _completion("tcsh")
    assert result.returncode == 2
    assert result.stdout == ""
    assert 'Invalid value "tcsh" for SHELL' in result.stderr
    assert '"bash", "zsh", "fish"' in result.stderr


# Completes the last word the way bash does on <Tab>: the script registers a
# function with `complete -F`; bash fills COMP_WORDS/COMP_CWORD, calls it and
# offers COMPREPLY. $1 is the script, the other arguments the words typed.
_BASH_COMPLETE = r"""
source "$1" || exit 3
spec=$(complete -p gosmee-trio) || exit 4
[[ $spec == *" -F "* ]] || exit 5
function=${spec#* -F }
function=${function%% *}
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$function" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" \
    "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""

# fish completes a whole command line itself; $argv[1] is the script.
_FISH_COMPLETE = 'source $argv[1]; and complete -C "$argv[2]"'

WORDS = [
    pytest.param(["gosmee-trio", "ser"], {"server"}, id="command"),
    pytest.param(
        ["gosmee-trio", "server", "--redis-"],
        {"--redis-url", "--redis-stream-maxlen"},
        id="option",
    ),
    pytest.param(
        ["gosmee-trio", "completion", ""], {"bash", "zsh", "fish"}, id="argument"
    ),
]


def _shell(name: str) -> str:
    path = shutil.which(name)
    # A missing shell fails rather than skips: .ci/run installs it.
    assert path is not None, f"{name} is not installed (apt-get install {name})"
    return path


def _script(shell: str, folder: Path) -> Path:
    result = _completion(shell)
    assert result.returncode == 0, result.stderr
    path = folder / f"gosmee-trio.{shell}"
    path.write_text(result.stdout)
    return path


def _run_shell(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("shell", "check"),
    [
        pytest.param("zsh", ["-n"], id="zsh"),
        pytest.param("fish", ["--no-config", "--no-execute"], id="fish"),
    ],
)
def test_completion_zsh_and_fish_scripts_parse(
    tmp_path: Path, shell: str, check: list[str]
) -> None:
    script = _script(shell, tmp_path)

    parsed = _run_shell(_shell(shell), *check, script)

    assert parsed.returncode == 0, parsed.stderr
    assert parsed.stderr == ""


@pytest.mark.parametrize(("words", "expected"), WORDS)
def test_completion_bash_completes_the_last_word(
    tmp_path: Path, words: list[str], expected: set[str]
) -> None:
    script = _script("bash", tmp_path)
    bash = _shell("bash")

    completed = _run_shell(
        bash, "--norc", "--noprofile", "-c", _BASH_COMPLETE, "bash", script, *words
    )

    assert completed.returncode == 0, completed.stderr
    assert set(completed.stdout.splitlines()) == expected


@pytest.mark.parametrize(("words", "expected"), WORDS)
def test_completion_fish_completes_the_last_word(
    tmp_path: Path, words: list[str], expected: set[str]
) -> None:
    script = _script("fish", tmp_path)
    fish = _shell("fish")

    line = " ".join(words)
    completed = _run_shell(fish, "--no-config", "-c", _FISH_COMPLETE, script, line)

    assert completed.returncode == 0, completed.stderr
    # One candidate a line, then a tab and its description.
    found = {
        candidate.partition("\t")[0] for candidate in completed.stdout.splitlines()
    }
    assert found == expected
