"""The client's two HTTP clients: one for the event stream, one for the target."""

from __future__ import annotations

import httpx
import trio

from gosmee_trio.config import ClientConfig

# Connect timeout for the stream; reads use the keepalive watchdog instead.
STREAM_CONNECT_TIMEOUT = 10.0


class HttpClients:
    """The stream's HTTP client and the target's, opened and closed together."""

    def __init__(self, config: ClientConfig) -> None:
        stream_timeout = httpx.Timeout(
            STREAM_CONNECT_TIMEOUT, read=config.watchdog_timeout
        )
        self.stream = httpx.AsyncClient(timeout=stream_timeout)
        # NOTE: like upstream, the target is reached without the environment's proxy
        # settings: it is a local service, and a corporate proxy cannot reach it.
        self.target = httpx.AsyncClient(
            timeout=config.target_timeout,
            verify=not config.insecure_skip_tls_verify,
            trust_env=False,
        )

    async def __aenter__(self) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        return self.stream, self.target

    async def __aexit__(self, *exc_info: object) -> None:
        with trio.move_on_after(1, shield=True):
            await self.stream.aclose()
            await self.target.aclose()
