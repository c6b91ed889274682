"""Command line: parse, build the config, run under Trio. Kept thin on purpose."""

from __future__ import annotations

from typing import Annotated

from cyclopts import App, Parameter

from gosmee_trio import __version__
from gosmee_trio.cli.common import RootConfigOption, fail
from gosmee_trio.cli.configfile import SECTIONS
from gosmee_trio.cli.configsource import CONFIG_FILE
from gosmee_trio.errors import ConfigError

app = App(
    name="gosmee-trio",
    help="Relay webhooks from a public server to services on a private network.",
    version=__version__,
    backend="trio",
    # The YAML file's values reach every command through this config source.
    config=[CONFIG_FILE],
)

# Registering the commands needs ``app``; import them after it exists.
from gosmee_trio.cli import client, completion, keygen, replay, server  # noqa: E402, F401

CONFIG_FILE.commands = {name: app[name] for name in SECTIONS}


@app.meta.default
def _root(
    *tokens: Annotated[str, Parameter(show=False, allow_leading_hyphen=True)],
    config: RootConfigOption = None,
) -> None:
    """Relay webhooks from a public server to services on a private network.

    Args:
        config: YAML configuration file for the command that follows (the command
            takes --config too).
    """
    CONFIG_FILE.root_path = config
    app(tokens)


def main() -> None:
    """Console-script entry point."""
    try:
        app.meta()
    except ConfigError as exc:
        # Raised by the config source while the command line is parsed.
        fail(str(exc))
