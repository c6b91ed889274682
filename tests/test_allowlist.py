from __future__ import annotations

import re
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gosmee_trio.errors import ConfigError
from gosmee_trio.server.allowlist import AllowList, IPAddress, client_ip

V4 = IPv4Address
V6 = IPv6Address


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param(["10.0.0.1"], AllowList(frozenset({V4("10.0.0.1")})), id="ipv4"),
        pytest.param(
            ["2001:DB8::1"], AllowList(frozenset({V6("2001:db8::1")})), id="ipv6"
        ),
        pytest.param(
            ["10.0.0.0/8"],
            AllowList(networks=(IPv4Network("10.0.0.0/8"),)),
            id="ipv4-cidr",
        ),
        pytest.param(
            ["2001:db8::/32"],
            AllowList(networks=(IPv6Network("2001:db8::/32"),)),
            id="ipv6-cidr",
        ),
        pytest.param(
            ["10.1.2.3/8"],
            AllowList(networks=(IPv4Network("10.0.0.0/8"),)),
            id="host-bits-set",
        ),
        pytest.param(
            ["0.0.0.0/0", "::/0"],
            AllowList(networks=(IPv4Network("0.0.0.0/0"), IPv6Network("::/0"))),
            id="zero-prefix",
        ),
        pytest.param(
            ["192.0.2.1/32", "2001:db8::1/128"],
            AllowList(frozenset({V4("192.0.2.1"), V6("2001:db8::1")})),
            id="full-prefix-is-single-address",
        ),
        pytest.param(
            ["::ffff:10.1.2.3"], AllowList(frozenset({V4("10.1.2.3")})), id="mapped"
        ),
        pytest.param(
            ["::ffff:10.0.0.0/104"],
            AllowList(networks=(IPv4Network("10.0.0.0/8"),)),
            id="mapped-cidr",
        ),
        pytest.param(
            ["::ffff:0.0.0.0/80"],
            AllowList(networks=(IPv6Network("::/80"),)),
            id="cidr-wider-than-mapped-space-stays-ipv6",
        ),
        pytest.param(
            [" 10.0.0.1 ", "\t10.0.0.0/8\n"],
            AllowList(frozenset({V4("10.0.0.1")}), (IPv4Network("10.0.0.0/8"),)),
            id="whitespace-trimmed",
        ),
        pytest.param(["", "  ", "\t"], AllowList(), id="empty-entries-ignored"),
        pytest.param([], AllowList(), id="no-entries"),
    ],
)
def test_allowlist_parse_valid(entries: list[str], expected: AllowList) -> None:
    assert AllowList.parse(entries) == expected


def _ip(entry: str) -> str:
    return f"failed to parse allowed IPs: invalid IP address {entry!r}"


def _cidr(entry: str) -> str:
    return f"failed to parse allowed IPs: invalid CIDR range {entry!r}"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param("not-an-ip", _ip("not-an-ip"), id="garbage"),
        pytest.param("256.1.1.1", _ip("256.1.1.1"), id="octet-out-of-range"),
        pytest.param("010.1.2.3", _ip("010.1.2.3"), id="leading-zero"),
        pytest.param("1.2.3.4:80", _ip("1.2.3.4:80"), id="with-port"),
        pytest.param("[::1]", _ip("[::1]"), id="bracketed"),
        pytest.param("1.2.3.4,5.6.7.8", _ip("1.2.3.4,5.6.7.8"), id="unsplit-comma"),
        pytest.param("10.0.0.0/99", _cidr("10.0.0.0/99"), id="prefix-99"),
        pytest.param("1.2.3.4/33", _cidr("1.2.3.4/33"), id="ipv4-prefix-33"),
        pytest.param("::1/129", _cidr("::1/129"), id="ipv6-prefix-129"),
        pytest.param("10.0.0.0/", _cidr("10.0.0.0/"), id="empty-prefix"),
        pytest.param("/8", _cidr("/8"), id="empty-address"),
        pytest.param("10.0.0.0/-1", _cidr("10.0.0.0/-1"), id="negative-prefix"),
        pytest.param(
            "10.0.0.0/255.0.0.0", _cidr("10.0.0.0/255.0.0.0"), id="netmask-form"
        ),
        pytest.param(
            "fe80::1%eth0",
            _ip("fe80::1%eth0") + ": zone ids are not supported",
            id="zone-address",
        ),
        pytest.param(
            "fe80::%eth0/64",
            _cidr("fe80::%eth0/64") + ": zone ids are not supported",
            id="zone-cidr",
        ),
    ],
)
def test_allowlist_parse_invalid(entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        AllowList.parse(["192.0.2.1", entry, "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("entries", "ip", "allowed"),
    [
        pytest.param(["192.0.2.1"], "192.0.2.1", True, id="exact"),
        pytest.param(["192.0.2.1"], "192.0.2.2", False, id="exact-miss"),
        pytest.param(["10.0.0.0/8"], "10.255.0.1", True, id="cidr"),
        pytest.param(["10.0.0.0/8"], "11.0.0.1", False, id="cidr-miss"),
        pytest.param(["192.0.2.1"], "::ffff:192.0.2.1", True, id="mapped-client"),
        pytest.param(["10.0.0.0/8"], "::ffff:10.1.2.3", True, id="mapped-in-cidr"),
        pytest.param(["::ffff:192.0.2.1"], "192.0.2.1", True, id="mapped-entry"),
        pytest.param(["::ffff:10.0.0.0/104"], "10.9.9.9", True, id="mapped-cidr"),
        pytest.param(["2001:db8::1"], "2001:db8::1", True, id="ipv6-exact"),
        pytest.param(["2001:db8::/32"], "2001:db8:ff::1", True, id="ipv6-cidr"),
        pytest.param(["2001:db8::/32"], "2001:db9::1", False, id="ipv6-cidr-miss"),
        pytest.param(["fe80::/10"], "fe80::1%eth0", True, id="zoned-client-cidr"),
        pytest.param(["fe80::1"], "fe80::1%eth0", True, id="zoned-client-exact"),
        pytest.param(["0.0.0.0/0"], "203.0.113.9", True, id="ipv4-any"),
        pytest.param(["0.0.0.0/0"], "2001:db8::1", False, id="ipv4-any-not-ipv6"),
        # NOTE: as in Go, an IPv6 network never matches an IPv4 client, even
        # one that arrived mapped.
        pytest.param(["::/0"], "::ffff:192.0.2.1", False, id="ipv6-any-not-mapped"),
        pytest.param(["192.0.2.1"], "::192.0.2.1", False, id="ipv4-compatible"),
    ],
)
def test_allowlist_allows(entries: list[str], ip: str, allowed: bool) -> None:
    assert AllowList.parse(entries).allows(ip_address(ip)) is allowed


@pytest.mark.parametrize("ip", ["192.0.2.1", "2001:db8::1", "::ffff:10.0.0.1"])
def test_allowlist_empty_allows_everyone(ip: str) -> None:
    allowlist = AllowList.parse(["", " "])
    assert not allowlist.enabled
    assert allowlist.allows(ip_address(ip))


def test_allowlist_enabled_with_entries() -> None:
    assert AllowList.parse(["192.0.2.1"]).enabled
    assert AllowList.parse(["10.0.0.0/8"]).enabled


XFF = b"x-forwarded-for"
REAL = b"x-real-ip"
PEER = "192.0.2.50"


@pytest.mark.parametrize(
    ("peer", "headers", "trust_proxy", "expected"),
    [
        pytest.param(
            PEER,
            [(XFF, b"203.0.113.7"), (REAL, b"203.0.113.8")],
            False,
            PEER,
            id="no-trust-ignores-headers",
        ),
        pytest.param(None, [(XFF, b"203.0.113.7")], False, None, id="no-trust-no-peer"),
        pytest.param(
            PEER,
            [(XFF, b"203.0.113.7, 10.0.0.1")],
            True,
            "203.0.113.7",
            id="xff-first-element",
        ),
        pytest.param(
            PEER,
            [(XFF, b"  203.0.113.7  ,10.0.0.1")],
            True,
            "203.0.113.7",
            id="xff-spaces",
        ),
        pytest.param(
            PEER, [(XFF, b"2001:db8::7, 10.0.0.1")], True, "2001:db8::7", id="xff-ipv6"
        ),
        pytest.param(
            PEER, [(XFF, b"::ffff:203.0.113.7")], True, "203.0.113.7", id="xff-mapped"
        ),
        pytest.param(
            PEER,
            [(XFF, b"unknown, 10.0.0.1"), (REAL, b"203.0.113.8")],
            True,
            "203.0.113.8",
            id="xff-unknown-then-real-ip",
        ),
        pytest.param(PEER, [(XFF, b"unknown")], True, PEER, id="xff-unknown-then-peer"),
        pytest.param(
            PEER, [(XFF, b"203.0.113.7:443")], True, PEER, id="xff-ipv4-port-skipped"
        ),
        pytest.param(
            PEER,
            [(XFF, b"[2001:db8::7]:443")],
            True,
            PEER,
            id="xff-ipv6-port-skipped",
        ),
        pytest.param(
            PEER, [(XFF, b"[2001:db8::7]")], True, PEER, id="xff-bracketed-skipped"
        ),
        pytest.param(
            PEER, [(REAL, b" 203.0.113.8 ")], True, "203.0.113.8", id="real-ip-only"
        ),
        pytest.param(
            PEER, [(REAL, b"203.0.113.8:80")], True, PEER, id="real-ip-port-skipped"
        ),
        pytest.param(
            PEER,
            [(XFF, b"garbage"), (REAL, b"junk")],
            True,
            PEER,
            id="invalid-headers-then-peer",
        ),
        pytest.param(
            PEER,
            [(XFF, b"203.0.113.7"), (XFF, b"198.51.100.1")],
            True,
            "203.0.113.7",
            id="xff-lines-first-wins",
        ),
        pytest.param(
            PEER,
            [(XFF, b""), (XFF, b"198.51.100.1")],
            True,
            PEER,
            id="xff-empty-first-line",
        ),
        pytest.param(
            PEER,
            [(b"X-Forwarded-For", b"203.0.113.7")],
            True,
            "203.0.113.7",
            id="header-name-case",
        ),
        pytest.param(PEER, [(XFF, "203.0.113.é".encode())], True, PEER, id="non-ascii"),
        pytest.param(
            None, [(XFF, b"203.0.113.7")], True, "203.0.113.7", id="no-peer-xff"
        ),
        pytest.param(PEER, [], True, PEER, id="trust-no-headers"),
        pytest.param(None, [], True, None, id="no-peer-no-headers"),
        pytest.param(None, [(XFF, b"unknown")], True, None, id="nothing-parses"),
        pytest.param("localhost", [], False, None, id="peer-hostname"),
        pytest.param("", [], False, None, id="peer-empty"),
        pytest.param("::ffff:127.0.0.1", [], False, "127.0.0.1", id="peer-mapped"),
        pytest.param("fe80::1%eth0", [], False, "fe80::1", id="peer-zone-dropped"),
        pytest.param("2001:db8::1", [], False, "2001:db8::1", id="peer-ipv6"),
    ],
)
def test_client_ip(
    peer: str | None,
    headers: list[tuple[bytes, bytes]],
    trust_proxy: bool,
    expected: str | None,
) -> None:
    found = client_ip(peer, headers, trust_proxy=trust_proxy)
    assert found == (None if expected is None else ip_address(expected))
    assert found is None or str(found) == expected


ADDRESSES = st.ip_addresses()


@given(address=st.ip_addresses(v=4), prefix=st.integers(0, 32))
def test_allowlist_mapped_forms_match_like_ipv4(
    address: IPv4Address, prefix: int
) -> None:
    plain = AllowList.parse([f"{address}/{prefix}"])
    mapped_entry = AllowList.parse([f"::ffff:{address}/{prefix + 96}"])
    mapped_client = IPv6Address(f"::ffff:{address}")

    assert plain == mapped_entry
    assert plain.allows(address)
    assert plain.allows(mapped_client)


@given(network=ADDRESSES, prefix=st.integers(0, 128), ip=ADDRESSES)
def test_allowlist_agrees_with_ipaddress(
    network: IPAddress, prefix: int, ip: IPAddress
) -> None:
    prefix %= network.max_prefixlen + 1
    expected = ip_network(f"{network}/{prefix}", strict=False)
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # The mapped-entry rewrite is covered by the property above.
    assume(
        not (isinstance(expected, IPv6Network) and expected.network_address.ipv4_mapped)
    )
    assert AllowList.parse([f"{network}/{prefix}"]).allows(ip) is (ip in expected)


@given(ip=ADDRESSES, trust_proxy=st.booleans())
def test_client_ip_round_trips(ip: IPAddress, trust_proxy: bool) -> None:
    expected = ip.ipv4_mapped if isinstance(ip, IPv6Address) and ip.ipv4_mapped else ip
    text = str(ip).encode()

    assert client_ip(str(ip), [], trust_proxy=trust_proxy) == expected
    assert client_ip(None, [(XFF, text)], trust_proxy=True) == expected
    assert client_ip(None, [(REAL, text)], trust_proxy=True) == expected
