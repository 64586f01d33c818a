"""Which addresses the fetcher may connect to, enforced where connections are made.

DNS answers are checked against the :class:`NetworkPolicy` right before connecting, on
every hop, so a public name that resolves to a private address is refused too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import certifi
import httpcore
import httpx


class AddressBlocked(Exception):
    """Raised inside the connection layer; turned into BlockedURL by the fetcher."""


class DNSLookupFailed(httpcore.ConnectError):
    """Raised inside the connection layer; turned into DNSFailure by the fetcher."""


@dataclass(frozen=True)
class NetworkPolicy:
    """Which IP addresses the fetcher may connect to.

    Public addresses are allowed; loopback, private, link-local, multicast, reserved and
    unspecified ones only when inside one of ``allow``.
    """

    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_cidrs(cls, cidrs: Iterable[str]) -> NetworkPolicy:
        return cls(tuple(ipaddress.ip_network(c, strict=False) for c in cidrs))

    def allows(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allow if net.version == ip.version):
            return True
        return not (
            ip.is_loopback
            or ip.is_private
            or ip.is_link_local
            or ip.is_multicast
            or ip.is_reserved
            or ip.is_unspecified
            or (isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour is not None)
        )


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, checks every address, connects to an allowed one.

    Connecting to the checked address (not re-resolving the name) closes the window in
    which DNS could answer differently the second time. TLS still verifies the name.
    """

    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise DNSLookupFailed(f"DNS lookup failed for {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        allowed = [a for a in addresses if self.policy.allows(a)]
        if not allowed:
            raise AddressBlocked(
                f"{host} resolves to {', '.join(addresses)}, outside the allowed networks "
                "(to fetch from it anyway: --allow-network CIDR, or the allow_networks "
                "setting)"
            )
        last: Exception | None = None
        for address in allowed:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise AddressBlocked("unix sockets are never used")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the connection layer swapped for :class:`GuardedBackend`."""

    def __init__(self, policy: NetworkPolicy, max_connections: int = 100) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy),
        )
