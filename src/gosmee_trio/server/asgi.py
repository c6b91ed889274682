"""A quart-trio connection class that keeps keep-alive connections usable.

NOTE: quart-trio 0.12 cancels the request nursery as soon as hypercorn reports the
peer's disconnect. When a response is finished before the request body has fully
arrived (a 413 for an oversized body), hypercorn closes the socket inside that final
``send``; the cancel lands in the middle of the close and the connection stalls.
Shielding only the final body message lets hypercorn finish (stack-notes §2.4).
"""

from __future__ import annotations

from typing import Any

import trio
from hypercorn.typing import ASGISendCallable, ASGISendEvent
from quart.wrappers import Request
from quart_trio.asgi import TrioASGIHTTPConnection

# Bound on the shielded final send: a peer that stops reading must not hang shutdown.
FINAL_SEND_GRACE = 10.0


class ShieldedFinalSendConnection(TrioASGIHTTPConnection):
    async def handle_request(  # type: ignore[override]
        self, nursery: trio.Nursery, request: Request, send: ASGISendCallable
    ) -> None:
        async def send_shielding_last(message: ASGISendEvent) -> None:
            if _is_final_body(message):
                with trio.move_on_after(FINAL_SEND_GRACE, shield=True):
                    await send(message)
            else:
                await send(message)

        await super().handle_request(nursery, request, send_shielding_last)


def _is_final_body(message: Any) -> bool:
    return message["type"] == "http.response.body" and not message.get(
        "more_body", False
    )
