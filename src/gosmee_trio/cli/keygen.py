"""``gosmee-trio keygen``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

from cyclopts import Parameter

from gosmee_trio.cli import app
from gosmee_trio.cli.common import ConfigOption, fail
from gosmee_trio.envelope import public_key_text
from gosmee_trio.errors import ConfigError
from gosmee_trio.keyfile import generate_keypair, write_key_file


@app.command
def keygen(
    *,
    key_file: Annotated[
        Path | None,
        Parameter(name="--key-file", env_var="GOSMEE_ENCRYPTION_KEY_FILE"),
    ] = None,
    force: Annotated[bool, Parameter(name="--force", negative=())] = False,
    config_file: ConfigOption = None,
) -> None:
    """Create a client keypair for protected channels and print its public key.

    Give the printed public key to the server operator, who lists it for the channel
    in the server's --encrypted-channels-file; run the client with
    --encryption-key-file pointing at the same file.

    Args:
        key_file: Where to write the keypair (JSON, mode 0600).
        force: Replace an existing key file.
        config_file: YAML configuration file (default: gosmee/config.yaml in the
            user's config directory, if it exists).
    """
    if key_file is None:
        fail('required flag "key-file" not set')
    pair = generate_keypair()
    try:
        write_key_file(key_file, pair, force=force)
    except ConfigError as exc:
        fail(str(exc))
    sys.stdout.write(public_key_text(pair.public) + "\n")
