"""Ingress controls over real HTTP: signatures, allowlist, replay token, CORS, TLS."""

from __future__ import annotations

import hashlib
import hmac
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio
import trustme

from gosmee_trio.config import ServerConfig
from gosmee_trio.server.serve import Server
from tests.helpers import message_of, read_events

CHANNEL = "ingress-chan-01"
SECRET = "s3cr3t-value"
NEW_SECRET = "rotated-secret"


async def _serve(nursery: trio.Nursery, **options: object) -> str:
    relay = Server(
        ServerConfig(address="127.0.0.1", port=0, keepalive_interval=0.5, **options)  # type: ignore[arg-type]
    )
    await nursery.start(relay.run)
    return relay.state.public_url


def _github(body: bytes, secret: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "push"}


@pytest.fixture
async def signed_url(nursery: trio.Nursery) -> str:
    return await _serve(nursery, webhook_secrets=(SECRET, NEW_SECRET))


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 401, id="unsigned"),
        pytest.param(_github(b'{"a":1}', SECRET), 202, id="github-old-secret"),
        pytest.param(_github(b'{"a":1}', NEW_SECRET), 202, id="github-new-secret"),
        pytest.param(_github(b'{"a":1}', "wrong"), 401, id="github-wrong-secret"),
        pytest.param(_github(b'{"a":2}', SECRET), 401, id="github-tampered-body"),
        pytest.param({"X-Gitlab-Token": SECRET}, 202, id="gitlab"),
        pytest.param({"X-Gitlab-Token": "nope"}, 401, id="gitlab-wrong"),
        pytest.param(
            {
                "X-Gitea-Signature": hmac.new(
                    SECRET.encode(), b'{"a":1}', "sha256"
                ).hexdigest()
            },
            202,
            id="gitea-bare-hex",
        ),
        pytest.param(
            {
                "X-Hub-Signature": "sha256="
                + hmac.new(NEW_SECRET.encode(), b'{"a":1}', "sha256").hexdigest()
            },
            202,
            id="bitbucket-cloud",
        ),
    ],
)
async def test_signature_check(
    http: httpx.AsyncClient, signed_url: str, headers: dict[str, str], status: int
) -> None:
    reply = await http.post(
        f"{signed_url}/{CHANNEL}", content=b'{"a":1}', headers=headers
    )
    assert reply.status_code == status
    if status == 401:
        assert reply.text == "invalid signature\n"


async def test_rejections_are_one_warning_line_without_secrets(
    http: httpx.AsyncClient, signed_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await http.post(
        f"{signed_url}/{CHANNEL}",
        content=b"payload-text",
        headers={"X-Gitlab-Token": "guess", "X-Request-Id": "req-42"},
    )
    [record] = [
        r for r in caplog.records if r.getMessage().startswith("request rejected")
    ]
    assert record.levelname == "WARNING"
    assert record.getMessage() == "request rejected: invalid signature"
    fields = vars(record)
    assert fields["http_status"] == 401
    assert fields["client_ip"] == "127.0.0.1"
    assert fields["channel"] == CHANNEL
    assert fields["request_id"] == "req-42"
    assert fields["body_bytes"] == len(b"payload-text")
    assert SECRET not in caplog.text and "guess" not in caplog.text
    assert "payload-text" not in caplog.text


async def test_allowlist_guards_posts_only(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    url = await _serve(nursery, allowed_ips=("10.0.0.0/8", "::1"))
    for path in (f"/{CHANNEL}", "/not/a/route", f"/replay/{CHANNEL}"):
        reply = await http.post(url + path, content=b"{}")
        assert reply.status_code == 403
        assert reply.text == "IP address 127.0.0.1 not allowed\n"
    assert (await http.get(f"{url}/version")).status_code == 200
    assert (await http.get(f"{url}/{CHANNEL}")).status_code == 200


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({"X-Forwarded-For": "10.1.2.3, 127.0.0.1"}, 202, id="xff-first"),
        pytest.param(
            {"X-Forwarded-For": "unknown", "X-Real-IP": "10.9.9.9"}, 202, id="real-ip"
        ),
        pytest.param({"X-Forwarded-For": "192.0.2.1"}, 403, id="xff-outside"),
        pytest.param({}, 403, id="peer"),
    ],
)
async def test_trust_proxy_uses_forwarded_headers(
    nursery: trio.Nursery, http: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    url = await _serve(nursery, allowed_ips=("10.0.0.0/8",), trust_proxy=True)
    reply = await http.post(f"{url}/{CHANNEL}", content=b"{}", headers=headers)
    assert reply.status_code == status


async def test_forwarded_headers_are_ignored_without_trust_proxy(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    url = await _serve(nursery, allowed_ips=("10.0.0.0/8",))
    reply = await http.post(
        f"{url}/{CHANNEL}", content=b"{}", headers={"X-Forwarded-For": "10.1.2.3"}
    )
    assert reply.status_code == 403


async def test_replay_needs_the_token_and_strips_it(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    url = await _serve(nursery, replay_token="tok-123", webhook_secrets=(SECRET,))
    replay = f"{url}/replay/{CHANNEL}"
    for auth in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic tok-123"},
    ):
        reply = await http.post(replay, content=b"{}", headers=auth)
        assert (reply.status_code, reply.text) == (401, "Unauthorized\n")

    async with trio.open_nursery() as inner:
        got: list[tuple[str, str, str]] = []

        async def listen() -> None:
            got.extend(await read_events(http, f"{url}/events/{CHANNEL}", 1))

        inner.start_soon(listen)
        await trio.testing.wait_all_tasks_blocked(0.05)
        reply = await http.post(
            replay,
            content=b'{"replayed":true}',
            headers={"Authorization": "bearer tok-123", "Content-Type": "text/plain"},
        )
        assert reply.status_code == 202
        assert reply.json()["message"] == "replayed"
    message = message_of(got[0][2])
    assert "authorization" not in message
    assert message["content-type"] == "application/json"


async def test_replay_is_open_without_a_token(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    url = await _serve(nursery)
    reply = await http.post(f"{url}/replay/{CHANNEL}", content=b"{}")
    assert reply.status_code == 202


@pytest.mark.parametrize(
    ("origin", "header"),
    [("*", "*"), ("https://example.com", "https://example.com"), ("", None)],
)
async def test_cors_origin_on_streams(
    nursery: trio.Nursery, http: httpx.AsyncClient, origin: str, header: str | None
) -> None:
    url = await _serve(nursery, cors_origin=origin)
    async with http.stream("GET", f"{url}/events/{CHANNEL}") as stream:
        assert stream.headers.get("access-control-allow-origin") == header


@pytest.fixture(scope="session")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(certificate_authority: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    cert = certificate_authority.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return cert_path, key_path


@pytest.fixture
async def tls_http(
    certificate_authority: trustme.CA,
) -> AsyncIterator[httpx.AsyncClient]:
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    async with httpx.AsyncClient(verify=context, timeout=10) as client:
        yield client


async def test_tls_serves_https_end_to_end(
    nursery: trio.Nursery, tls_http: httpx.AsyncClient, tls_files: tuple[Path, Path]
) -> None:
    url = await _serve(nursery, tls_cert=tls_files[0], tls_key=tls_files[1])
    assert url.startswith("https://127.0.0.1:")
    async with trio.open_nursery() as inner:
        got: list[tuple[str, str, str]] = []

        async def listen() -> None:
            got.extend(await read_events(tls_http, f"{url}/events/{CHANNEL}", 1))

        inner.start_soon(listen)
        await trio.testing.wait_all_tasks_blocked(0.05)
        assert (
            await tls_http.post(f"{url}/{CHANNEL}", content=b"over tls")
        ).status_code == 202
    assert message_of(got[0][2])["bodyB"] == "b3ZlciB0bHM="


async def test_large_signed_body_is_checked_off_the_event_loop(
    http: httpx.AsyncClient, signed_url: str
) -> None:
    body = b"x" * (3 * 1024 * 1024)
    good = await http.post(
        f"{signed_url}/{CHANNEL}", content=body, headers=_github(body, NEW_SECRET)
    )
    bad = await http.post(
        f"{signed_url}/{CHANNEL}", content=body, headers=_github(b"y", SECRET)
    )
    assert (good.status_code, bad.status_code) == (202, 401)
