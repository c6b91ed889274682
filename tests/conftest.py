"""Shared fixtures: a real relay server, a recording target, CI strictness."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import trio

from gosmee_trio.config import ServerConfig
from gosmee_trio.server.broker import Broker
from gosmee_trio.server.serve import Server
from tests.helpers import RecordingTarget

# The real redis-server fixtures (redis_server, redis_relay).
pytest_plugins = ["tests.redis_server"]

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[None]:
    # CI must never skip: a test that needs a missing tool fails there instead.
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {report.longrepr}"


@pytest.fixture(autouse=True, scope="session")
def _no_user_config_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Commands started by the tests would read the developer's own
    # ~/.config/gosmee/config.yaml (upstream gosmee's file too) as their defaults.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
        yield


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared folder {SHARED} not present")
    return SHARED


@pytest.fixture
async def server(nursery: trio.Nursery) -> Server:
    """A real server on an ephemeral loopback port, short keepalive."""
    relay = Server(
        ServerConfig(address="127.0.0.1", port=0, keepalive_interval=0.5),
        Broker(history_events=50),
    )
    await nursery.start(relay.run)
    return relay


@pytest.fixture
def server_url(server: Server) -> str:
    return server.state.public_url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def target(nursery: trio.Nursery) -> RecordingTarget:
    recorder = RecordingTarget()
    await nursery.start(recorder.run)
    return recorder
