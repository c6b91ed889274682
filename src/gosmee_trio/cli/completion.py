"""``gosmee-trio completion``."""

from __future__ import annotations

import sys
from typing import Literal

from gosmee_trio.cli import app

Shell = Literal["bash", "zsh", "fish"]


@app.command
def completion(shell: Shell, /) -> None:
    """Print a shell completion script for gosmee-trio.

    Save it where your shell looks for completions, for example:

    - bash: ~/.local/share/bash-completion/completions/gosmee-trio
    - zsh: ~/.zfunc/_gosmee-trio, with ~/.zfunc on $fpath before compinit
    - fish: ~/.config/fish/completions/gosmee-trio.fish

    The script lists the commands and options of this version; regenerate it after
    upgrading.

    Args:
        shell: bash, zsh or fish.
    """
    sys.stdout.write(app.generate_completion(prog_name="gosmee-trio", shell=shell))
