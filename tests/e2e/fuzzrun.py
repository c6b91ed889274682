"""Running hypothesis against the live server, and the marker channel it must spare.

How hypothesis runs against a live Trio server
----------------------------------------------
pytest-trio runs each ``async def`` test inside ``trio.run``, and ``@given`` does not
compose with that: hypothesis wants a plain function that it calls once per example.
So a fuzz test is an ordinary Trio test that starts one server (and whatever
subscribers it watches), then `fuzz_examples` hands the hypothesis run to a worker
thread with ``trio.to_thread.run_sync``. The ``@given`` function runs there, and each
example calls back into the test's own event loop with ``trio.from_thread.run``: the
request is sent and judged by async code on the loop that runs the server, while
hypothesis generates and shrinks synchronously in its thread. Cancelling the test
(its ``trio.fail_after``) cancels the ``from_thread.run`` call in flight.

After each example ``trio.testing.wait_all_tasks_blocked()`` waits until the server
has finished with that example's connections, so an ERROR it logs is pinned on the
example that caused it, and hypothesis shrinks that example to a minimal one.

Examples are random on a developer's machine and fixed under CI, where hypothesis
loads its "ci" profile (derandomize). A failure prints the falsifying example and a
``@reproduce_failure`` blob; ``--hypothesis-seed`` replays a whole run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest
import trio
from httpx_sse import aconnect_sse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.fuzzing import MARKER_CHANNEL, SECRET
from tests.e2e.rawhttp import assert_server_calm

# One example (connect, send up to ~130 KiB, read the answer) takes milliseconds on
# loopback; 10 s means the server hung.
EXAMPLE_TIMEOUT = 10.0
# A marker's round trip (POST, then the event on the stream) is milliseconds too.
MARKER_TIMEOUT = 5.0
# Hypothesis budget: a few hundred examples per property keeps each fuzz test under
# half a minute on a 2-core machine; the run limit catches a hang, not slowness.
FUZZ_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RUN_LIMIT = 150.0

T = TypeVar("T")


class MarkerWatch:
    """A subscriber on the marker channel; every marker must arrive, in order."""

    def __init__(self, base_url: str, http: httpx.AsyncClient) -> None:
        self._base_url = base_url
        self._http = http
        self._send, self._receive = trio.open_memory_channel[tuple[str, bytes]](100)
        self.sent = 0

    async def run(self, *, task_status: trio.TaskStatus[None]) -> None:
        url = f"{self._base_url}/events/{MARKER_CHANNEL}"
        async with aconnect_sse(self._http, "GET", url) as source:
            async for sse in source.aiter_sse():
                if sse.data == '{"message":"ready"}':
                    task_status.started()
                if not sse.data or sse.data.startswith('{"message":'):
                    continue  # a keepalive comment or a control event
                body = base64.b64decode(json.loads(sse.data)["bodyB"])
                await self._send.send((sse.id, body))

    async def expect_marker(self) -> None:
        """Post the next marker; it must be the next event the subscriber gets."""
        self.sent += 1
        body = f"marker-{self.sent}".encode()
        # Signed, so that a server with webhook secrets takes it too.
        digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        with trio.fail_after(MARKER_TIMEOUT):
            reply = await self._http.post(
                f"{self._base_url}/{MARKER_CHANNEL}",
                content=body,
                headers={"X-Hub-Signature-256": f"sha256={digest}"},
            )
            assert reply.status_code == 202, reply.text
            received = await self._receive.receive()
        assert received == (reply.json()["stream_id"], body)


async def fuzz_examples(
    strategy: st.SearchStrategy[T],
    check: Callable[[T], Awaitable[None]],
    caplog: pytest.LogCaptureFixture,
    *,
    markers: MarkerWatch | None = None,
    budget: settings = FUZZ_SETTINGS,
) -> None:
    """Run ``check`` on every example hypothesis draws from ``strategy``.

    Each check gets ``EXAMPLE_TIMEOUT`` and must leave the server without an ERROR
    in its log; with ``markers``, a marker must then make it through as well.
    """
    examples = 0

    async def check_calmly(example: T) -> None:
        start = len(caplog.records)
        with trio.fail_after(EXAMPLE_TIMEOUT):
            await check(example)
        await assert_server_calm(caplog, since=start)

    @budget
    @given(strategy)
    def run_examples(example: T) -> None:
        nonlocal examples
        examples += 1
        trio.from_thread.run(check_calmly, example)
        if markers is not None:
            trio.from_thread.run(markers.expect_marker)

    with trio.fail_after(RUN_LIMIT):
        await trio.to_thread.run_sync(run_examples)
        if markers is not None:
            await markers.expect_marker()
    await assert_server_calm(caplog)
    assert examples >= budget.max_examples
