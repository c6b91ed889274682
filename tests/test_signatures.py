from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gosmee_trio.server.signatures import SIGNATURE_HEADERS, verify_signature

# The body and secrets of upstream's server_test.go cases.
BODY = b'{"event":"test"}'
SECRET = "test-secret"
SECRET1 = "secret1"
SECRET2 = "secret2"
# A real push-sized payload with non-ASCII text, for the providers' own forms.
PUSH = '{"ref":"refs/heads/main","head_commit":{"message":"Fix café ✓"}}'.encode()
OLD, NEW = "old-secret", "new-sécret-✓"


def sha256_hex(secret: str, body: bytes = BODY) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sha1_hex(secret: str, body: bytes = BODY) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def as_received(text: str) -> str:
    """A header value as the server hands it over: UTF-8 bytes decoded as Latin-1."""
    return text.encode().decode("latin-1")


def verify(headers: Mapping[str, str], secrets: list[str], body: bytes = BODY) -> bool:
    return verify_signature(headers, [body], secrets)


@pytest.mark.parametrize(
    ("headers", "secrets", "expected"),
    [
        pytest.param(
            {"x-hub-signature-256": f"sha256={sha256_hex(SECRET)}"},
            [SECRET],
            True,
            id="case-9-github-valid",
        ),
        pytest.param(
            {"x-hub-signature-256": "sha256=invalid"},
            [SECRET],
            False,
            id="case-9-github-invalid",
        ),
        pytest.param(
            {"x-hub-signature-256": sha256_hex(SECRET)},
            [SECRET],
            False,
            id="case-9-github-without-prefix",
        ),
        pytest.param(
            {"x-hub-signature": sha256_hex(SECRET)},
            [SECRET],
            True,
            id="case-10-bitbucket-bare-hex-valid",
        ),
        pytest.param(
            {"x-hub-signature": "invalid"},
            [SECRET],
            False,
            id="case-10-bitbucket-invalid",
        ),
        pytest.param(
            {"x-gitea-signature": f"sha256={sha256_hex(SECRET)}"},
            [SECRET],
            True,
            id="case-11-gitea-prefixed-valid",
        ),
        pytest.param(
            {"x-gitea-signature": "sha256=invalid"},
            [SECRET],
            False,
            id="case-11-gitea-invalid",
        ),
        pytest.param(
            {"x-gitea-signature": "invalid-format"},
            [SECRET],
            False,
            id="case-11-gitea-invalid-format",
        ),
        pytest.param(
            {"x-hub-signature-256": f"sha256={sha256_hex(SECRET1)}"},
            [SECRET1, SECRET2],
            True,
            id="case-12-github-first-secret",
        ),
        pytest.param(
            {"x-hub-signature": sha256_hex(SECRET2)},
            [SECRET1, SECRET2],
            True,
            id="case-12-bitbucket-second-secret",
        ),
        pytest.param(
            {"x-gitlab-token": SECRET1},
            [SECRET1, SECRET2],
            True,
            id="case-12-gitlab-first-secret",
        ),
        pytest.param(
            {"x-gitea-signature": f"sha256={sha256_hex(SECRET2)}"},
            [SECRET1, SECRET2],
            True,
            id="case-12-gitea-second-secret",
        ),
        pytest.param(
            {"x-hub-signature-256": "sha256=invalid"},
            [SECRET1, SECRET2],
            False,
            id="case-12-github-invalid",
        ),
        pytest.param({}, [], True, id="case-13-no-secrets-no-header"),
        pytest.param(
            {"x-hub-signature-256": "sha256=invalid"},
            [],
            True,
            id="case-13-no-secrets-bad-signature",
        ),
        pytest.param(
            {"x-gitlab-token": "wrong"}, [], True, id="case-13-no-secrets-bad-token"
        ),
    ],
)
def test_verify_signature_behaviour_cases(
    headers: dict[str, str], secrets: list[str], expected: bool
) -> None:
    assert verify(headers, secrets) is expected


# Each provider's headers as it really sends them, every value computed over PUSH.
PROVIDERS = [
    pytest.param(
        {
            "x-hub-signature": f"sha1={sha1_hex(SECRET, PUSH)}",
            "x-hub-signature-256": f"sha256={sha256_hex(SECRET, PUSH)}",
        },
        id="github",
    ),
    pytest.param({"x-gitlab-token": SECRET}, id="gitlab"),
    pytest.param(
        {"x-hub-signature": f"sha256={sha256_hex(SECRET, PUSH)}"}, id="bitbucket"
    ),
    pytest.param(
        {
            "x-gitea-signature": sha256_hex(SECRET, PUSH),
            "x-gogs-signature": sha256_hex(SECRET, PUSH),
            "x-hub-signature": f"sha1={sha1_hex(SECRET, PUSH)}",
            "x-hub-signature-256": f"sha256={sha256_hex(SECRET, PUSH)}",
        },
        id="gitea",
    ),
    pytest.param(
        {
            "x-gitea-signature": sha256_hex(SECRET, PUSH),
            "x-gogs-signature": sha256_hex(SECRET, PUSH),
        },
        id="gitea-without-hub-headers",
    ),
    pytest.param(
        {
            "x-forgejo-signature": sha256_hex(SECRET, PUSH),
            "x-gitea-signature": sha256_hex(SECRET, PUSH),
            "x-gogs-signature": sha256_hex(SECRET, PUSH),
            "x-hub-signature": f"sha1={sha1_hex(SECRET, PUSH)}",
            "x-hub-signature-256": f"sha256={sha256_hex(SECRET, PUSH)}",
        },
        id="forgejo",
    ),
]


@pytest.mark.parametrize("headers", PROVIDERS)
def test_verify_signature_accepts_each_provider_as_sent(
    headers: dict[str, str],
) -> None:
    assert verify(headers, [SECRET], PUSH)
    assert not verify(headers, ["another-secret"], PUSH)


# One header alone in each accepted form: (header, how to sign a body with a secret).
Signer = Callable[[str, bytes], str]
FORMS = [
    pytest.param("x-gitlab-token", lambda s, b: as_received(s), id="gitlab-token"),
    pytest.param(
        "x-hub-signature-256",
        lambda s, b: "sha256=" + sha256_hex(s, b),
        id="hub-256-sha256",
    ),
    pytest.param(
        "x-hub-signature", lambda s, b: "sha1=" + sha1_hex(s, b), id="hub-sha1-github"
    ),
    pytest.param(
        "x-hub-signature",
        lambda s, b: "sha256=" + sha256_hex(s, b),
        id="hub-sha256-bitbucket",
    ),
    pytest.param("x-hub-signature", sha256_hex, id="hub-bare-upstream"),
    pytest.param("x-gitea-signature", sha256_hex, id="gitea-bare"),
    pytest.param(
        "x-gitea-signature",
        lambda s, b: "sha256=" + sha256_hex(s, b),
        id="gitea-sha256-upstream",
    ),
    pytest.param("x-forgejo-signature", sha256_hex, id="forgejo-bare"),
    pytest.param(
        "x-forgejo-signature",
        lambda s, b: "sha256=" + sha256_hex(s, b),
        id="forgejo-sha256",
    ),
]
HMAC_FORMS = [form for form in FORMS if form.values[0] != "x-gitlab-token"]


@pytest.mark.parametrize("secret", [OLD, NEW])
@pytest.mark.parametrize(("header", "sign"), FORMS)
def test_verify_signature_accepts_old_and_new_secret_while_rotating(
    header: str, sign: Signer, secret: str
) -> None:
    assert verify({header: sign(secret, PUSH)}, [OLD, NEW], PUSH)


@pytest.mark.parametrize(("header", "sign"), FORMS)
def test_verify_signature_rejects_wrong_secret(header: str, sign: Signer) -> None:
    assert not verify({header: sign("not-configured", PUSH)}, [OLD, NEW], PUSH)


@pytest.mark.parametrize(("header", "sign"), HMAC_FORMS)
def test_verify_signature_rejects_tampered_body(header: str, sign: Signer) -> None:
    tampered = PUSH.replace(b"main", b"mein")
    assert not verify({header: sign(SECRET, PUSH)}, [SECRET], tampered)
    assert not verify({header: sign(SECRET, PUSH)}, [SECRET], PUSH + b"\n")


@pytest.mark.parametrize(("header", "sign"), HMAC_FORMS)
@pytest.mark.parametrize("size", [1, 3, 7, 64])
def test_verify_signature_same_for_any_chunking(
    header: str, sign: Signer, size: int
) -> None:
    chunks = [PUSH[i : i + size] for i in range(0, len(PUSH), size)]
    chunks.insert(1, b"")  # empty chunks arrive too, e.g. a final more_body=False
    headers = {header: sign(SECRET, PUSH)}
    assert verify_signature(headers, chunks, [SECRET]) is True
    assert verify_signature(headers, chunks[:-1], [SECRET]) is False


@pytest.mark.parametrize(("header", "sign"), HMAC_FORMS)
@pytest.mark.parametrize("chunks", [[], [b""], [b"", b""]], ids=["none", "one", "two"])
def test_verify_signature_empty_body(
    header: str, sign: Signer, chunks: list[bytes]
) -> None:
    assert verify_signature({header: sign(SECRET, b"")}, chunks, [SECRET])
    assert not verify_signature({header: sign(SECRET, b"x")}, chunks, [SECRET])


VALID_256 = f"sha256={sha256_hex(SECRET)}"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            {"x-hub-signature-256": VALID_256, "x-gitlab-token": "wrong"},
            False,
            id="bad-gitlab-token-beats-valid-hub-256",
        ),
        pytest.param(
            {"x-hub-signature-256": "sha256=invalid", "x-gitlab-token": SECRET},
            True,
            id="gitlab-token-decides-over-bad-hub-256",
        ),
        pytest.param(
            {"x-hub-signature-256": "sha256=invalid", "x-hub-signature": VALID_256},
            False,
            id="bad-hub-256-beats-valid-hub",
        ),
        pytest.param(
            {"x-hub-signature": "sha1=bad", "x-gitea-signature": sha256_hex(SECRET)},
            False,
            id="bad-hub-beats-valid-gitea",
        ),
        pytest.param(
            {"x-gitea-signature": "bad", "x-forgejo-signature": sha256_hex(SECRET)},
            False,
            id="bad-gitea-beats-valid-forgejo",
        ),
        pytest.param(
            {"x-gogs-signature": sha256_hex(SECRET)}, False, id="gogs-not-accepted"
        ),
        pytest.param(
            {"content-type": "application/json"}, False, id="no-signature-header"
        ),
        pytest.param({}, False, id="no-headers"),
    ],
)
def test_verify_signature_first_present_header_decides(
    headers: dict[str, str], expected: bool
) -> None:
    assert verify(headers, [SECRET]) is expected


GOOD = sha256_hex(SECRET)
GOOD_SHA1 = sha1_hex(SECRET)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        pytest.param("x-hub-signature-256", "", id="empty"),
        pytest.param("x-hub-signature-256", "sha256=", id="prefix-only"),
        pytest.param("x-hub-signature-256", f"sha256={GOOD[:-1]}", id="short"),
        pytest.param("x-hub-signature-256", f"sha256={GOOD}0", id="long"),
        pytest.param("x-hub-signature-256", f"sha256={GOOD[:-2]}zz", id="non-hex"),
        pytest.param("x-hub-signature-256", f"sha256= {GOOD}", id="space-after-="),
        pytest.param("x-hub-signature-256", f"sha256={GOOD} ", id="trailing-space"),
        pytest.param(
            "x-hub-signature-256", f"sha256={GOOD[:30]} {GOOD[31:]}", id="inner-space"
        ),
        pytest.param("x-hub-signature-256", f"SHA256={GOOD}", id="uppercase-prefix"),
        pytest.param("x-hub-signature-256", f"sha1={GOOD_SHA1}", id="sha1-in-256"),
        pytest.param(
            "x-hub-signature-256", f"sha256={GOOD}, sha256={GOOD}", id="joined-repeat"
        ),
        pytest.param("x-hub-signature-256", "sha256=" + "٣" * 64, id="arabic-digits"),
        pytest.param("x-hub-signature-256", "sha256=" + "ａ" * 64, id="fullwidth-hex"),
        pytest.param("x-hub-signature-256", "sha256=\ud800" + "a" * 63, id="surrogate"),
        pytest.param("x-hub-signature", "", id="hub-empty"),
        pytest.param("x-hub-signature", "sha1=", id="hub-sha1-prefix-only"),
        pytest.param("x-hub-signature", "sha256=", id="hub-sha256-prefix-only"),
        pytest.param("x-hub-signature", f"sha1={GOOD}", id="hub-sha1-with-sha256-hex"),
        pytest.param("x-hub-signature", GOOD_SHA1, id="hub-bare-sha1-hex"),
        pytest.param("x-hub-signature", f"sha512={GOOD}", id="hub-unknown-algorithm"),
        pytest.param("x-gitea-signature", "", id="gitea-empty"),
        pytest.param("x-gitea-signature", "sha256=", id="gitea-prefix-only"),
        pytest.param("x-gitea-signature", f"sha1={GOOD_SHA1}", id="gitea-sha1"),
        pytest.param("x-forgejo-signature", "", id="forgejo-empty"),
        pytest.param("x-forgejo-signature", GOOD + "é", id="forgejo-unicode-tail"),
        pytest.param("x-gitlab-token", "", id="gitlab-empty"),
        pytest.param("x-gitlab-token", f"{SECRET} ", id="gitlab-trailing-space"),
        pytest.param("x-gitlab-token", SECRET.upper(), id="gitlab-other-case"),
        pytest.param("x-gitlab-token", "tést-secret", id="gitlab-unicode"),
        pytest.param("x-gitlab-token", "\ud800", id="gitlab-surrogate"),
        pytest.param("x-gitlab-token", "test-secret✓", id="gitlab-beyond-latin-1"),
    ],
)
def test_verify_signature_malformed_value_is_false(header: str, value: str) -> None:
    assert verify({header: value}, [SECRET]) is False


def test_verify_signature_empty_token_never_matches_empty_secret() -> None:
    assert verify({"x-gitlab-token": ""}, [""]) is False


def test_verify_signature_token_compares_raw_header_bytes() -> None:
    assert verify({"x-gitlab-token": as_received(NEW)}, [OLD, NEW])
    # The same text decoded as UTF-8 is not what the server hands over.
    assert not verify({"x-gitlab-token": NEW}, [OLD, NEW])


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"x-hub-signature-256": f"sha256={GOOD.upper()}"}, id="hub-256"),
        pytest.param({"x-hub-signature": f"sha1={GOOD_SHA1.upper()}"}, id="hub-sha1"),
        pytest.param({"x-hub-signature": GOOD.upper()}, id="hub-bare"),
        pytest.param({"x-gitea-signature": GOOD.upper()}, id="gitea"),
        pytest.param({"x-forgejo-signature": GOOD[:32] + GOOD[32:].upper()}, id="mix"),
    ],
)
def test_verify_signature_accepts_uppercase_hex(headers: dict[str, str]) -> None:
    # Deliberately laxer than upstream: hex case carries no information.
    assert verify(headers, [SECRET])


def test_signature_headers_lists_checked_headers_in_order() -> None:
    assert SIGNATURE_HEADERS == (
        "x-gitlab-token",
        "x-hub-signature-256",
        "x-hub-signature",
        "x-gitea-signature",
        "x-forgejo-signature",
    )


class _MacSpy:
    """Records each HMAC made and each chunk fed to it; the real HMAC does the work."""

    def __init__(self) -> None:
        self.made: list[str] = []
        self.fed: list[bytes] = []
        self._real = hmac.new

    def new(self, key: bytes, msg: None = None, digestmod: Any = None) -> Any:
        self.made.append(digestmod)
        real = self._real(key, msg, digestmod)
        spy = self

        class Mac:
            def update(self, chunk: bytes) -> None:
                spy.fed.append(chunk)
                real.update(chunk)

            def digest(self) -> bytes:
                return real.digest()

        return Mac()


@pytest.mark.parametrize(
    ("value", "made"),
    [
        pytest.param(f"sha256={sha256_hex('c', PUSH)}", ["sha256"] * 3, id="last"),
        pytest.param(f"sha256={sha256_hex('a', PUSH)}", ["sha256"], id="first"),
        pytest.param("sha256=" + "0" * 64, ["sha256"] * 3, id="none"),
        pytest.param(f"sha1={sha1_hex('b', PUSH)}", ["sha1"] * 2, id="sha1"),
        pytest.param("sha256=bad", [], id="malformed"),
    ],
)
def test_verify_signature_makes_one_hmac_per_secret_over_unjoined_chunks(
    monkeypatch: pytest.MonkeyPatch, value: str, made: list[str]
) -> None:
    spy = _MacSpy()
    monkeypatch.setattr(hmac, "new", spy.new)
    chunks = [PUSH[:10], PUSH[10:20], PUSH[20:]]

    verify_signature({"x-hub-signature": value}, chunks, ["a", "b", "c"])

    assert spy.made == made
    assert len(spy.fed) == 3 * len(made)
    assert all(fed is chunk for fed, chunk in zip(spy.fed, chunks * 3, strict=False))


@st.composite
def _chunked(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    body = draw(st.binary(max_size=2048))
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=12)))
    edges = [0, *cuts, len(body)]
    return body, [body[a:b] for a, b in zip(edges, edges[1:], strict=False)]


@given(
    chunked=_chunked(),
    secret=st.text(min_size=1),
    position=st.integers(min_value=0),
    flip=st.integers(1, 255),
)
def test_verify_signature_any_body_any_chunking(
    chunked: tuple[bytes, list[bytes]], secret: str, position: int, flip: int
) -> None:
    body, chunks = chunked
    headers = {"x-hub-signature-256": "sha256=" + sha256_hex(secret, body)}
    assert verify_signature(headers, chunks, [secret])

    if body:
        changed = bytearray(body)
        changed[position % len(body)] ^= flip
        assert not verify_signature(headers, [bytes(changed)], [secret])


@given(
    header=st.sampled_from(SIGNATURE_HEADERS),
    value=st.text(st.characters(exclude_categories=())),
)
def test_verify_signature_never_raises_on_any_header_value(
    header: str, value: str
) -> None:
    assert verify({header: value}, [SECRET]) is (
        header == "x-gitlab-token" and value == SECRET
    )
