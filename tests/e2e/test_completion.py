"""``gosmee-trio completion``: real processes, scripts the shells accept."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

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
