"""Who is asking: the peer's address, or a trusted reverse proxy's X-Forwarded-For.

X-Forwarded-For and X-Forwarded-Proto are believed only from peers in TRUSTED_PROXIES;
from anyone else they are ignored, so a client cannot choose the address it is throttled
and logged under (daphne's --proxy-headers believes every peer, and is not used).
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _trusted(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _header(scope: dict, name: bytes) -> str:
    """The header's lines joined by commas; "" when it is absent."""
    joined = b",".join(value for key, value in scope.get("headers", ()) if key.lower() == name)
    return joined.decode("latin-1")  # pragma: no mutate (codec names in any case)


def resolve(scope: dict) -> dict:
    """The ASGI scope with `client` and `scheme` as a trusted proxy says, else as they are."""
    peer = scope.get("client")
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not peer or not _trusted(peer[0], networks):
        return scope
    scope = dict(scope)
    forwarded_for = _header(scope, b"x-forwarded-for")
    if forwarded_for:
        # The rightmost address a trusted proxy did not add is the client's; everything to its
        # left was written by the client itself and proves nothing.
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        client = peer[0]
        while hops:
            client = hops.pop()
            if not _trusted(client, networks):
                break
        scope["client"] = (client, 0)
    proto = _header(scope, b"x-forwarded-proto")
    if proto and proto.split(",")[-1].strip().lower() in ("http", "https"):
        scope["scheme"] = proto.split(",")[-1].strip().lower()
    return scope


def address(scope: dict) -> str:
    client = scope.get("client")
    return client[0] if client else "-"
