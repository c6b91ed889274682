"""The systemd units in systemd/ verify, and the server's sandbox scores as recorded.

``systemd-analyze verify`` loads a unit the way the service manager would and fails
when its ExecStart= binary does not exist. The units point at the install locations
docs/deploy.md uses (/opt/gosmee-trio and ~/.local/bin), which this machine need not
have, so the tests verify copies whose ExecStart= binary is this checkout's
gosmee-trio, and nothing else changed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
SERVER_UNIT = "gosmee-trio-server.service"
CLIENT_TEMPLATE = "gosmee-trio-client@.service"
INSTALLED_BINARIES = ("/opt/gosmee-trio/bin/gosmee-trio", "%h/.local/bin/gosmee-trio")
# The bar issue 9 sets; docs/deploy.md records the score the unit reaches.
MAX_EXPOSURE = 2.0


@pytest.fixture
def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    return found


@pytest.fixture
def units(tmp_path: Path) -> Path:
    binary = Path(sys.executable).with_name("gosmee-trio")
    assert binary.is_file(), f"expected the console script next to {sys.executable}"
    folder = tmp_path / "units"
    folder.mkdir()
    for source in UNITS.glob("*.service"):
        text = source.read_text()
        for installed in INSTALLED_BINARIES:
            text = text.replace(f"ExecStart={installed} ", f"ExecStart={binary} ")
        assert str(binary) in text, f"{source.name}: ExecStart= not rewritten"
        (folder / source.name).write_text(text)
    # An instance of the template, so that %i is expanded as well.
    shutil.copy(folder / CLIENT_TEMPLATE, folder / "gosmee-trio-client@ci.service")
    return folder


def _analyze(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{output}"
    return output


def test_server_unit_verifies_without_warnings(
    systemd_analyze: str, units: Path
) -> None:
    output = _analyze(systemd_analyze, "verify", f"./{SERVER_UNIT}", cwd=units)
    # Unknown or misspelt settings are only warnings; they must not pass either.
    assert output == ""


@pytest.mark.parametrize("unit", [CLIENT_TEMPLATE, "gosmee-trio-client@ci.service"])
def test_client_user_unit_verifies_without_warnings(
    systemd_analyze: str, units: Path, tmp_path: Path, unit: str
) -> None:
    # A user manager needs a runtime directory; a throwaway one stands in for
    # /run/user/$UID.
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(runtime),
    }
    output = _analyze(
        systemd_analyze, "--user", "verify", f"./{unit}", cwd=units, env=env
    )
    assert output == ""


def test_server_unit_exposure_is_under_the_bar(
    systemd_analyze: str, units: Path
) -> None:
    output = _analyze(
        systemd_analyze,
        "security",
        "--offline=yes",
        "--no-pager",
        f"./{SERVER_UNIT}",
        cwd=units,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", output)
    assert found, f"no exposure level in:\n{output}"
    assert float(found.group(1)) < MAX_EXPOSURE, output
