"""The one way out: the rules for every request the service makes to an address that a
person, a document or another server gave it (a person's Mastodon server, their PDS from a
DID document, an authorization server from a PDS's metadata, an issuer's ``did:web``, a
WebFinger domain), and the contract of the client that keeps them (:class:`Outbound`; the
composition root owns its one implementation, the adapters are handed it).

The rules, in one place:

- ``https`` only; the host's every address must be global (not loopback, private,
  link-local, multicast, unspecified, reserved or shared, IPv4-mapped forms included), and
  the connection is made to an address that was checked (no second lookup);
- redirects are followed under the same rules, :data:`MAX_REDIRECTS` at most;
- every answer has a total deadline and a size bound, and is read in full or refused;
- the operator's allow-list (``HQX_OUTBOUND_ALLOW``: ``host`` or ``host:port``) and the
  servers the operator configured (the bots' own servers, the PLC directory) may be reached
  over plain ``http`` and on any address: the local test world lives on loopback;
- what a remote server answered is never shown to a person: they read
  :data:`UNREACHABLE` (the log keeps the detail).

Pure: no network library here; the addresses are checked, not resolved.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from shared.errors import HqxError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

MAX_REDIRECTS = 3
DEADLINE_SEC = 15.0
"""The longest a request may take, from its first byte out to its answer's last byte in."""
ANSWER_MAX_BYTES = 256 * 1024
"""The largest answer read by default (OAuth and account documents are a few kilobytes)."""
UNREACHABLE = "that server could not be reached safely; try again later or ask its operator"
"""What a person reads when a server they named cannot be asked (never its answer)."""

_DNS_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
# A host name's last label starts with a letter: ``127.1`` or ``0x7f000001`` are addresses
# in disguise (inet_aton's legacy forms), never names.
_HOST_RE = re.compile(rf"^({_DNS_LABEL}\.)*[a-zA-Z]([a-zA-Z0-9-]{{0,61}}[a-zA-Z0-9])?$")
_DID_PLC_RE = re.compile(r"^did:plc:[a-z2-7]{24}$")
_DID_WEB_RE = re.compile(r"^did:web:([a-zA-Z0-9.-]+)(%3A[0-9]{1,5})?$")


class OutboundError(HqxError):
    """A request that was not made, or whose answer was refused: :attr:`reason` says which,
    for the log; a person reads :data:`UNREACHABLE`."""

    def __init__(self, message: str, *, reason: str = "unreachable") -> None:
        super().__init__(message)
        self.reason = reason


class RefusedAddressError(OutboundError):
    """The address is not one the service reaches on someone else's word."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="refused")


def public_ip(address: str) -> bool:
    """Whether ``address`` (an IP literal) is one of the open internet's: global, and not
    multicast. An IPv4 address carried in IPv6 (mapped, compatible, NAT64, 6to4) is judged
    as the IPv4 address it reaches."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return public_ip(str(inner))
    return ip.is_global and not ip.is_multicast


_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _COMPATIBLE or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def ip_literal(host: str) -> str | None:
    """The address a URL's host names directly (``[::1]`` or ``127.0.0.1``), else ``None``."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare.split("%", 1)[0]))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Target:
    """A URL taken apart as the client will reach it."""

    url: str
    scheme: str
    host: str
    """Lower case, without brackets."""
    port: int
    allowed: bool
    """On the allow-list: plain http and any address."""


@dataclass(frozen=True, slots=True)
class Policy:
    """Where the service may go: the allow-list (``host`` or ``host:port``, lower case)."""

    allowed: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, entries: Iterable[str], trusted_urls: Iterable[str | None] = ()) -> Policy:
        """The operator's entries and the hosts of the servers they configured."""
        found = {e for e in map(allow_entry, entries) if e is not None}
        for url in trusted_urls:
            if url:
                parts = urlsplit(url)
                if parts.hostname:
                    default = 443 if parts.scheme == "https" else 80
                    host = parts.hostname.lower()
                    shown = f"[{host}]" if ":" in host else host
                    found.add(f"{shown}:{parts.port or default}")
        return cls(frozenset(found))

    def allows(self, host: str, port: int) -> bool:
        host = host.lower().strip("[]")
        shown = f"[{host}]" if ":" in host else host
        return host in self.allowed or f"{shown}:{port}" in self.allowed

    def target(self, url: str) -> Target:
        """``url`` checked before any lookup: its scheme, its host's form, and a host named
        by its address.

        Raises:
            RefusedAddressError: a URL the service must not reach.
        """
        try:
            parts = urlsplit(url)
            port = parts.port
            host = parts.hostname
        except ValueError as e:
            raise RefusedAddressError(f"{url!r} is not a URL: {e}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http") or not host:
            raise RefusedAddressError(f"{url!r} is not an http(s) URL")
        if parts.username is not None or parts.password is not None:
            raise RefusedAddressError(f"{url!r} carries a user name or password")
        port = port or (443 if scheme == "https" else 80)
        allowed = self.allows(host, port)
        literal = ip_literal(host)
        if literal is None and not _HOST_RE.match(host.rstrip(".")):
            raise RefusedAddressError(f"{host!r} is not a host name")
        if not allowed:
            if scheme != "https":
                raise RefusedAddressError(f"{url!r}: only https is reached")
            if literal is not None and not public_ip(literal):
                raise RefusedAddressError(f"{host} is not a public address")
        return Target(url, scheme, host.lower(), port, allowed)

    def check_addresses(self, host: str, port: int, addresses: Iterable[str]) -> list[str]:
        """The addresses a name resolved to, if every one may be reached.

        Raises:
            RefusedAddressError: one of them is not public (and the host not allowed), or
                there is none.
        """
        found = list(addresses)
        if not found:
            raise RefusedAddressError(f"{host} has no address")
        if self.allows(host, port):
            return found
        for address in found:
            if not public_ip(address):
                raise RefusedAddressError(f"{host} resolves to {address}, not a public address")
        return found


_ENTRY_RE = re.compile(r"^(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>\d{1,5}))?$")


def allow_entry(entry: str) -> str | None:
    """An allow-list entry as :class:`Policy` compares it (``host``, ``host:port``,
    ``[v6]:port``, or a bare IPv6 address), or ``None`` when it is none of these."""
    entry = entry.strip().lower()
    if ip_literal(entry) is not None and ":" in entry:
        return ip_literal(entry)  # a bare IPv6 address
    found = _ENTRY_RE.match(entry)
    if found is None or (found["port"] and not 0 < int(found["port"]) < 65536):
        return None
    host = found["v6"] or found["host"]
    if found["port"] is None:
        return host
    return f"[{host}]:{found['port']}" if found["v6"] else f"{host}:{found['port']}"


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer read in full: its status, its headers (lower-case names), its body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str
    """Where it came from (after redirects)."""

    def json(self) -> Any:
        """The body as JSON (an empty body: ``{}``).

        Raises:
            OutboundError: it is not JSON.
        """
        try:
            return json.loads(self.body or b"{}")
        except ValueError as e:
            raise OutboundError(f"{self.url} answered what is not JSON", reason="bad") from e


class Outbound(Protocol):
    """The service's one HTTP client for addresses someone else gave (see the module)."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        json: Any = None,
        max_bytes: int = ANSWER_MAX_BYTES,
        deadline_sec: float = DEADLINE_SEC,
        follow_redirects: bool = False,
    ) -> Answer:
        """One request under the rules; the answer, whatever its status.

        Raises:
            RefusedAddressError: the address (or a redirect's) is not one to reach.
            OutboundError: no answer within the deadline, or one over ``max_bytes``.
        """
        ...


def did_url(did: str, plc_url: str) -> str:
    """Where a DID's document is read: the PLC directory for ``did:plc``, the host's
    ``/.well-known/did.json`` for ``did:web`` (a host name, with its port as ``%3A``).

    Raises:
        RefusedAddressError: not a ``did:plc`` or ``did:web`` as their specs write them.
    """
    if _DID_PLC_RE.match(did):
        return f"{plc_url.rstrip('/')}/{did}"
    web = _DID_WEB_RE.match(did)
    if web and (ip_literal(web.group(1)) or _HOST_RE.match(web.group(1))):
        port = (web.group(2) or "").replace("%3A", ":")
        return f"https://{web.group(1).lower()}{port}/.well-known/did.json"
    raise RefusedAddressError(f"{did[:100]!r} is not a did:plc or did:web this service reads")


def acct_domain(acct: str) -> str:
    """The domain of a fediverse address (``user@domain``, with or without its ``@``).

    Raises:
        RefusedAddressError: not such an address.
    """
    user, _, domain = acct.removeprefix("@").partition("@")
    host, _, port = domain.partition(":")
    named = bool(_HOST_RE.match(host)) or ip_literal(host) is not None
    if not user or not named or (port and not port.isdigit()):
        raise RefusedAddressError(f"{acct[:100]!r} is not a fediverse address")
    return domain.lower()
