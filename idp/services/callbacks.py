"""Calling a client's registered URI from the provider (a back-channel logout today; webhooks
next): one POST, a short timeout, no redirect followed, and, unless the operator allows it,
never to a loopback, private, link-local or otherwise non-public address (SSRF).

The host is resolved once, every address it resolves to is checked, and the connection goes
to a checked address (the TLS name and the Host header stay the registered host's): a DNS
answer that changes between the check and the call (DNS rebinding) cannot move the call
into the provider's network. ``IDP_CALLBACK_PRIVATE_ADDRESSES`` (``refuse`` in production,
``allow`` in development) decides.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlencode, urlsplit

import urllib3

from .context import settings
from .outbox import PermanentFailure


class CallbackRefused(PermanentFailure):
    """The URI may not be called (a non-public address while those are refused, a bad
    URI)."""


class CallbackFailed(Exception):
    """The receiver did not accept the call (an HTTP error, a redirect, a timeout, a refused
    connection); the message says which, in words."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> str:
    """The address to connect to for ``host``: its first, after checking every address it
    resolves to when non-public addresses are refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CallbackFailed(f"cannot resolve {host}: {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise CallbackFailed(f"cannot resolve {host}")
    if settings().callback_private_addresses != "allow":
        for address in addresses:
            if not _public(address.split("%")[0]):
                raise CallbackRefused(
                    f"{host} resolves to {address}, a non-public address "
                    "(IDP_CALLBACK_PRIVATE_ADDRESSES=refuse)"
                )
    return addresses[0]


def post_form(uri: str, fields: dict[str, str], *, timeout: float) -> str:
    """POST ``fields`` form-encoded to ``uri``; return ``HTTP <status>`` for a 2xx answer,
    raise ``CallbackFailed`` (or ``CallbackRefused``) otherwise. Redirects are not followed:
    a 3xx is a failure."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused(f"not an http(s) URI: {uri!r}")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve(host, port)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    http_timeout = urllib3.Timeout(connect=timeout, read=timeout)
    pool: urllib3.HTTPConnectionPool
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=http_timeout,
            retries=False,
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=http_timeout, retries=False)
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host and parts.port is None:
        netloc = f"[{host}]"
    elif ":" in host:
        netloc = f"[{host}]:{parts.port}"
    try:
        with pool:
            response = pool.urlopen(
                "POST",
                path,
                body=urlencode(fields),
                headers={
                    "Host": netloc,
                    "Content-Type": "application/x-www-form-urlencoded",
                    "User-Agent": "idp",
                    "Accept": "application/json",
                },
                redirect=False,
                assert_same_host=False,
            )
    except urllib3.exceptions.NewConnectionError as exc:
        # Before TimeoutError: urllib3 makes a refused connection a kind of connect timeout.
        raise CallbackFailed(f"connection failed: {exc.__cause__ or exc}") from None
    except urllib3.exceptions.TimeoutError:
        raise CallbackFailed(f"no answer within {timeout:g} s") from None
    except urllib3.exceptions.HTTPError as exc:
        reason = getattr(exc, "reason", None) or exc
        raise CallbackFailed(f"connection failed: {reason}") from None
    status = response.status
    if 200 <= status < 300:
        return f"HTTP {status}"
    if 300 <= status < 400:
        raise CallbackFailed(f"HTTP {status} (redirects are not followed)")
    raise CallbackFailed(f"HTTP {status}")
