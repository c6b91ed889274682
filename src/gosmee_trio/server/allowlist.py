"""The ``--allowed-ips`` allowlist and client-IP lookup for webhook POSTs; pure.

IPv4-mapped IPv6 addresses (``::ffff:10.1.2.3``) are folded to IPv4 on both
sides: Go's ``net.IP`` treats the two forms as equal, ``ipaddress`` does not, and
on a dual-stack listener IPv4 clients arrive mapped. IPv6 zone ids (``%eth0``)
name a local interface, not a peer: entries with one are rejected, client
addresses have it dropped.

Proxy trust: with ``trust_proxy`` the client IP is the first element of
``X-Forwarded-For``, else ``X-Real-IP``, else the TCP peer. That is only safe
behind a reverse proxy that *overwrites* both headers with the address it saw
(nginx: ``$remote_addr``, not ``$proxy_add_x_forwarded_for``). A proxy that
appends to ``X-Forwarded-For`` keeps what the sender put first, so the leftmost
element is client-controlled and anyone could claim an allowed address; with no
proxy at all the sender sets both headers directly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import TypeAlias

from gosmee_trio.errors import ConfigError

IPAddress: TypeAlias = IPv4Address | IPv6Address
IPNetwork: TypeAlias = IPv4Network | IPv6Network

# IPv4-mapped IPv6 addresses sit under ::ffff:0:0/96.
_MAPPED_PREFIX = 96


@dataclass(frozen=True, slots=True)
class AllowList:
    """Who may POST: single addresses in a set (O(1)), CIDRs pre-parsed."""

    addresses: frozenset[IPAddress] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Sequence[str]) -> AllowList:
        """Build the allowlist from ``--allowed-ips`` entries.

        Entries are trimmed and empty ones skipped. A CIDR with host bits set
        (``10.1.2.3/8``) is accepted as ``10.0.0.0/8``, as upstream does.

        Raises:
            ConfigError: an entry is no IP address or CIDR (the message names it).
        """
        addresses: set[IPAddress] = set()
        networks: list[IPNetwork] = []
        for entry in filter(None, (raw.strip() for raw in entries)):
            network = _parse_entry(entry)
            if network.prefixlen == network.max_prefixlen:
                addresses.add(network.network_address)
            else:
                networks.append(network)
        return cls(frozenset(addresses), tuple(networks))

    @property
    def enabled(self) -> bool:
        return bool(self.addresses or self.networks)

    def allows(self, ip: IPAddress) -> bool:
        """Whether ``ip`` may POST (always, when empty); mapped IPv4 counts as IPv4."""
        if not self.enabled:
            return True
        ip = _normalise(ip)
        return ip in self.addresses or any(ip in net for net in self.networks)


def client_ip(
    peer: str | None, headers: Sequence[tuple[bytes, bytes]], *, trust_proxy: bool
) -> IPAddress | None:
    """The address the allowlist judges, or None when none can be found.

    Args:
        peer: host part of the TCP peer (ASGI ``scope["client"][0]``); None on
            a unix socket.
        headers: raw ASGI header pairs.
        trust_proxy: use ``X-Forwarded-For`` / ``X-Real-IP`` first; see the
            module docstring for when that is safe.

    Returns:
        The address with any zone id dropped and IPv4-mapped IPv6 folded to
        IPv4, or None when nothing parses (the caller answers 400).
    """
    if trust_proxy:
        # NOTE: upstream takes a bare IP only, so `ip:port`, `[v6]:port` and
        # `unknown` fall through to X-Real-IP, then to the peer.
        forwarded = _header(headers, b"x-forwarded-for").split(",", 1)[0]
        found = _parse_client(forwarded)
        if found is None:
            found = _parse_client(_header(headers, b"x-real-ip"))
        if found is not None:
            return found
    return None if peer is None else _parse_client(peer)


def _parse_entry(entry: str) -> IPNetwork:
    _, slash, prefix = entry.partition("/")
    kind = "CIDR range" if slash else "IP address"
    error = f"failed to parse allowed IPs: invalid {kind} {entry!r}"
    if "%" in entry:
        raise ConfigError(f"{error}: zone ids are not supported")
    # NOTE: Go's ParseCIDR wants a decimal prefix length; Python would also
    # take a netmask (`/255.0.0.0`) or hostmask, so those are refused here.
    if slash and not (prefix.isascii() and prefix.isdigit()):
        raise ConfigError(error)
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise ConfigError(error) from None  # ipaddress only repeats the entry
    if isinstance(network, IPv6Network) and network.prefixlen >= _MAPPED_PREFIX:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return IPv4Network((mapped, network.prefixlen - _MAPPED_PREFIX))
    return network


def _parse_client(text: str) -> IPAddress | None:
    try:
        return _normalise(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def _normalise(ip: IPAddress) -> IPAddress:
    if isinstance(ip, IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return IPv6Address(int(ip)) if ip.scope_id else ip


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> str:
    """The first value of header ``name``, or "" when it is absent."""
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""
