"""The Kore.ai host: a URL checked once (https unless loopback; no credentials or query in it)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from bulkprov.errors import BadHost, NoHost


def is_loopback(hostname: str) -> bool:
    hostname = hostname.strip("[]").rstrip(".").casefold()
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def normalize_host(host: str) -> str:
    """``scheme://host[:port][/prefix]`` with no trailing slash; https unless loopback."""
    raw = (host or "").strip()
    if not raw:
        raise NoHost()
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise BadHost("invalid") from None
    scheme = parts.scheme.lower()
    hostname = parts.hostname or ""
    if scheme not in ("http", "https"):
        raise BadHost("scheme", scheme=scheme)
    if not hostname:
        raise BadHost("no-name")
    if parts.username or parts.password:
        raise BadHost("userinfo")
    if parts.query or parts.fragment:
        raise BadHost("query")
    if scheme == "http" and not is_loopback(hostname):
        raise BadHost("plain-http", hostname=hostname)
    path = parts.path.rstrip("/")
    cut = path.find("/api/public")
    if cut != -1:  # a full endpoint URL was given: keep the prefix before the API path
        path = path[:cut]
    netloc_host = f"[{hostname}]" if ":" in hostname else hostname
    return f"{scheme}://{netloc_host}{f':{port}' if port else ''}{path}"


