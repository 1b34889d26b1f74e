"""How the Mastodon-API servers people run differ, as switchable behaviours of the test server.

Each profile is one kind of server; each difference names the public documentation or source
it comes from, so that it can be checked again:

- **mastodon** (4.x): the reference. Ids are decimal strings of 64-bit "snowflakes" (they
  exceed 2^53); accounts carry ``uri`` (the ActivityPub actor id); the user stream is served
  both as server-sent events (``/api/v1/streaming/user``) and over WebSocket
  (``/api/v1/streaming?stream=user``), at ``configuration.urls.streaming`` of
  ``/api/v2/instance`` (``wss://``). Sources: docs.joinmastodon.org/api/guidelines/#id,
  /entities/Account/#uri, /methods/streaming/. Its shapes are checked field by field against
  the responses recorded from a real Mastodon (:mod:`.reference`).
- **mastodon-3** (3.4, still run by some): no ``/api/v2/instance`` (added in 4.0.0; the v1
  instance gives ``urls.streaming_api``), ``types[]`` on notifications ignored (added in
  3.5.0: every kind comes back), no edits (``PUT /api/v1/statuses/:id`` and ``edited_at``
  came in 3.5.0). Sources: docs.joinmastodon.org's per-method version notes
  ("4.0.0 - added", "3.5.0 - added types[]") and Mastodon's CHANGELOG.md.
- **gotosocial** (0.20): ids are ULIDs, 26 characters of Crockford base32
  (``01M8N7Q4FJKK0Q0MGAADTF8D9G``), ordered as strings; accounts have no ``uri`` (WebFinger's
  ``self`` link gives the actor id); the user stream is served over WebSocket only, at
  ``wss://DOMAIN/api/v1/streaming``, which the instance advertises as ``wss://`` even when
  the API itself is plain http; the version is GoToSocial's own. Sources:
  docs.gotosocial.org (getting_started/reverse_proxy/websocket: "GoToSocial uses the secure
  websocket protocol (aka wss)", endpoint ``/api/v1/streaming``); the Mastodon issue
  mastodon/mastodon#25244 (GoToSocial's ULID ids); GoToSocial's swagger (Account has ``url``,
  no ``uri``). Its search (``internal/processing/search/get.go``) takes a query as an
  account's address when it starts with ``@`` or parses as an e-mail address (``mail.
  ParseAddress``, which refuses a host with a port): ``bob@host:8081`` finds nothing,
  ``@bob@host:8081`` finds Bob (measured on GoToSocial 0.20, ``platform-facts.md``).
- **akkoma** (Akkoma/Pleroma): ids are 128-bit "flake ids", base62 strings ordered as
  strings; ``version`` reads ``"2.7.2 (compatible; Akkoma 3.15.2)"``; accounts have no
  ``uri`` (``url`` is the actor id, ``pleroma.ap_id`` too) and carry ``fqn`` and a
  ``pleroma`` object, as statuses and notifications do; local ``acct`` is the bare nickname;
  streaming over WebSocket only (``/api/v1/streaming``), advertised in the v1 instance's
  ``urls.streaming_api``. Sources: Akkoma's and Pleroma's
  docs/development/API/differences_in_mastoapi_responses.md ("Pleroma uses 128-bit ids ...
  just like Mastodon's ids they are sortable strings"; "<Mastodon version> (compatible;
  Pleroma <version>)"; the ``pleroma`` fields), Pleroma's ``account_view.ex`` (``url:
  user.uri || user.ap_id``, no ``uri`` key).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

IdScheme = Literal["snowflake", "ulid", "flake"]
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Quirks:
    """How this server departs from Mastodon, as other servers do."""

    name: str = "mastodon"
    version: str = "4.5.2"
    """What the instance reports: GoToSocial's and Akkoma's own strings differ."""
    ids: IdScheme = "snowflake"
    """How ids look: decimal snowflakes, ULIDs or base62 flake ids (all opaque strings)."""
    account_uri: bool = True
    """Accounts carry ``uri``; without it the actor id is found through WebFinger."""
    pleroma: bool = False
    """Entities carry Pleroma's extensions (``pleroma`` objects, ``fqn``)."""
    acct_with_domain: bool = False
    """Local accounts' acct carries the domain, as some servers write it."""
    conversations: bool = True
    """False: no /api/v1/conversations (404), as on servers without it."""
    lookup: bool = True
    """False: no /api/v1/accounts/lookup (404), as on servers without it."""
    sse: bool = True
    """The user stream as server-sent events at /api/v1/streaming/user (Mastodon only)."""
    websocket: bool = True
    """The user stream over WebSocket at /api/v1/streaming."""
    websocket_authorization: bool = True
    """The WebSocket upgrade also takes the token in ``Authorization`` (Mastodon's streaming
    server does); elsewhere only ``access_token`` or ``Sec-WebSocket-Protocol``."""
    advertise_tls: bool = False
    """The instance advertises ``wss://`` for streaming although the test serves plain
    http (as GoToSocial does behind no TLS): a client must fall back to the API's scheme."""
    instance_v2: bool = True
    """False: no /api/v2/instance (404), as on older servers."""
    types_filter: bool = True
    """False: ``types[]`` of notifications is ignored (every kind comes back)."""
    edits: bool = True
    """False: statuses cannot be edited and carry no ``edited_at``."""
    idempotency_key: bool = True
    """``Idempotency-Key`` on ``POST /api/v1/statuses`` returns the status made before
    (Mastodon, Pleroma/Akkoma). False: the header is ignored, a second post is made
    (GoToSocial: ``internal/api/client/statuses/statuscreate.go`` reads no such header)."""
    software: str = "mastodon"
    """The software its NodeInfo names."""
    share_page: bool = True
    """``/share?text=…`` opens the composer with the text (Mastodon's web app); GoToSocial
    and Akkoma have no such page."""
    search_bare_address: bool = True
    """A search for ``user@host`` without its leading ``@`` finds the account (Mastodon).
    False (GoToSocial): such a query is an address only when it parses as an e-mail, which a
    host with a port never does; ``@user@host`` always is."""

    @property
    def streaming(self) -> bool:
        """Whether the server streams at all."""
        return self.sse or self.websocket

    def without_streaming(self) -> Quirks:
        """The same server with its streaming turned off."""
        return replace(self, sse=False, websocket=False)


MASTODON = Quirks()
MASTODON_3 = Quirks(
    name="mastodon-3", version="3.4.6", instance_v2=False, types_filter=False, edits=False
)
GOTOSOCIAL = Quirks(
    name="gotosocial",
    version="0.20.1 git-4d4a1b3",
    ids="ulid",
    account_uri=False,
    sse=False,
    websocket_authorization=False,
    advertise_tls=True,
    search_bare_address=False,
    idempotency_key=False,
    software="gotosocial",
    share_page=False,
)
AKKOMA = Quirks(
    name="akkoma",
    version="2.7.2 (compatible; Akkoma 3.15.2)",
    ids="flake",
    account_uri=False,
    pleroma=True,
    sse=False,
    websocket_authorization=False,
    instance_v2=False,
    software="akkoma",
    share_page=False,
)
PROFILES: dict[str, Quirks] = {q.name: q for q in (MASTODON, MASTODON_3, GOTOSOCIAL, AKKOMA)}
"""The servers people run, by name."""


def id_factory(scheme: IdScheme) -> Callable[[], str]:
    """Fresh ids in creation order, as the server of ``scheme`` writes them."""
    if scheme == "snowflake":
        counter = itertools.count(110_000_000_000_000_001)
        return lambda: str(next(counter))
    sequence = itertools.count(1)
    if scheme == "ulid":
        # 48 bits of milliseconds, then 80 bits that a monotonic generator increments.
        return lambda: _encode((int(time.time() * 1000) << 80) | next(sequence), _CROCKFORD, 26)
    # Pleroma's flake ids: 64 bits of milliseconds, 48 bits of worker id, 16 of sequence.
    return lambda: _encode((int(time.time() * 1000) << 64) | (7 << 16) | next(sequence), _BASE62)


def _encode(value: int, alphabet: str, width: int = 0) -> str:
    digits: list[str] = []
    while value:
        value, digit = divmod(value, len(alphabet))
        digits.append(alphabet[digit])
    return "".join(reversed(digits)).rjust(width, alphabet[0])


def id_order(value: str) -> tuple[int, str]:
    """How the server orders its ids: newer ones are longer, or lexically greater (true of
    all three schemes; the server knows its own ids, a client never compares them)."""
    return (len(value), value)
