"""docs/configuration.md matches the command line it is generated from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from gosmee_trio.cli import app
from gosmee_trio.cli.configsource import CONFIG_FILE, flag_arguments
from gosmee_trio.cli.reference import EXAMPLE, render

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_config_reference_is_up_to_date() -> None:
    committed = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    if committed != render():
        pytest.fail("docs/configuration.md is out of date; run make docs", False)


@pytest.mark.parametrize("command", ["client", "server", "replay", "keygen"])
def test_config_reference_example_is_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str
) -> None:
    for name in list(os.environ):
        if name.startswith("GOSMEE_"):
            monkeypatch.delenv(name)
    path = tmp_path / "config.yaml"
    path.write_text(EXAMPLE)

    _, bound, _ = app.parse_args([command, "-F", str(path)])

    assert CONFIG_FILE.path == path
    flags = flag_arguments(app[command].assemble_argument_collection())
    document = yaml.safe_load(EXAMPLE)
    keys = [*document[command], *(key for key in document if key in flags)]
    applied = {flags[key].field_info.name for key in keys if key in flags}
    assert applied <= set(bound.arguments)


def test_config_reference_lists_every_env_var_of_the_cli() -> None:
    page = render()
    for name in ("client", "server", "replay", "keygen"):
        for argument in app[name].assemble_argument_collection():
            for variable in argument.parameter.env_var or ():
                assert f"| `{variable}` |" in page
