"""Command line: parse, build the config, run under Trio. Kept thin on purpose."""

from __future__ import annotations

from cyclopts import App

from gosmee_trio import __version__

app = App(
    name="gosmee-trio",
    help="Relay webhooks from a public server to services on a private network.",
    version=__version__,
    backend="trio",
)

# Registering the commands needs ``app``; import them after it exists.
from gosmee_trio.cli import client, completion, keygen, replay, server  # noqa: E402, F401


def main() -> None:
    """Console-script entry point."""
    app()
