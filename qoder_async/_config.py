"""Checks of the client's connection settings: the PAT and the base URL, before any I/O."""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

__all__ = ["check_base_url", "check_pat", "is_loopback_host"]

# Printable ASCII without whitespace: what can travel in `Authorization: Bearer <PAT>`
# unchanged (spec 1: PATs look like `pt-...`).
_PAT: Final = re.compile(r"[\x21-\x7e]+")
# Control characters and spaces have no place in a URL given as configuration.
_URL_UNSAFE: Final = re.compile(r"[\x00-\x20\x7f]")


def check_pat(pat: object) -> str:
    """Return the PAT if it is printable ASCII without whitespace; never echoes it."""
    if not isinstance(pat, str):
        msg = f"pat must be a str, got {type(pat).__name__}"
        raise TypeError(msg)
    if not _PAT.fullmatch(pat):
        # The value itself is never shown: it is a secret.
        msg = "pat must be a non-empty token of printable ASCII characters without whitespace"
        raise ValueError(msg)
    return pat


def is_loopback_host(host: str) -> bool:
    """Whether `host` names this machine: localhost, 127.0.0.0/8 or ::1."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: object, *, allow_insecure_http: bool) -> str:
    """Return the base URL without trailing slashes, or raise ValueError/TypeError.

    It needs an http(s) scheme and a host, and may not carry userinfo, a query or a
    fragment (each would misroute or leak on every call). Plain http is accepted for
    loopback hosts, elsewhere only with `allow_insecure_http`: the PAT would travel in
    cleartext.
    """
    if not isinstance(base_url, str):
        msg = f"base_url must be a str, got {type(base_url).__name__}"
        raise TypeError(msg)
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        parts = None
    # Userinfo may hold a password: such a URL is never echoed.
    shown = "(not shown: it holds userinfo)" if parts and "@" in parts.netloc else repr(base_url)
    host = parts.hostname if parts is not None else None
    problem = None
    if parts is None:
        problem = "is not a valid URL"
    elif _URL_UNSAFE.search(base_url):
        problem = "holds whitespace or control characters"
    elif parts.scheme not in ("http", "https"):
        problem = "needs an http:// or https:// scheme"
    elif "@" in parts.netloc:
        problem = "may not hold a user name or password"
    elif not host:
        problem = "needs a host"
    elif "?" in base_url or "#" in base_url:
        problem = "may not hold a query or a fragment"
    if problem is not None or parts is None or not host:
        msg = f"base_url {problem}, got {shown}"
        raise ValueError(msg)
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(host):
        msg = (
            f"base_url {shown} is plain http to a host that is not this machine: the PAT "
            "would travel in cleartext. Use https://, or pass allow_insecure_http=True"
        )
        raise ValueError(msg)
    return base_url.rstrip("/")
