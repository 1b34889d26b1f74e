"""DID documents, read through the service's guarded client and kept a while: a person's PDS
(follows on their behalf) and an issuer's signing key (service auth) come from them.

A DID is checked against its method's syntax before anything is asked (``did:plc`` of the
PLC directory, ``did:web`` of a host name); a document is read within a size bound and a
deadline; at most :data:`CACHE_ENTRIES` are kept, each :data:`CACHE_SEC`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from atproto_core.did_doc import DidDocument

from shared.errors import HqxError
from shared.outbound import OutboundError, did_url

if TYPE_CHECKING:
    from shared.outbound import Outbound

DOCUMENT_MAX_BYTES = 64 * 1024
"""A DID document is a few hundred bytes; the PLC directory caps operations at 7,500."""
DEADLINE_SEC = 10.0
CACHE_SEC = 600.0
CACHE_ENTRIES = 4096
PDS_SERVICE = "#atproto_pds"


class IdentityError(HqxError):
    """A DID whose document cannot be had, or says nothing usable."""


class DidDocuments:
    """One per service: what DIDs' documents say, read under the rules and kept a while."""

    def __init__(self, http: Outbound, plc_url: str) -> None:
        self._http = http
        self._plc_url = plc_url
        self._kept: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    async def document(self, did: str, *, fresh: bool = False) -> dict[str, Any]:
        """The DID's document (``fresh``: read again, not from what is kept).

        Raises:
            IdentityError: not a DID read here, or its document cannot be had.
        """
        now = time.monotonic()
        kept = self._kept.get(did)
        if kept is not None and not fresh and kept[0] > now:
            self._kept.move_to_end(did)
            return kept[1]
        try:
            url = did_url(did, self._plc_url)
            answer = await self._http.request(
                "GET", url, max_bytes=DOCUMENT_MAX_BYTES, deadline_sec=DEADLINE_SEC,
                headers={"Accept": "application/did+ld+json, application/json"},
            )  # fmt: skip
            body = answer.json() if answer.status == 200 else None
        except OutboundError as e:
            raise IdentityError(f"the DID document of {did[:100]} cannot be read: {e}") from e
        if not isinstance(body, dict) or body.get("id") != did:
            raise IdentityError(f"no DID document for {did[:100]} ({answer.status})")
        self._kept[did] = (now + CACHE_SEC, body)
        self._kept.move_to_end(did)
        while len(self._kept) > CACHE_ENTRIES:
            self._kept.popitem(last=False)
        return body

    async def pds(self, did: str) -> str:
        """The PDS the DID's document names."""
        for service in (await self.document(did)).get("service") or []:
            if isinstance(service, dict) and str(service.get("id", "")).endswith(PDS_SERVICE):
                endpoint = service.get("serviceEndpoint")
                if isinstance(endpoint, str) and endpoint.startswith(("https://", "http://")):
                    return endpoint.rstrip("/")
        raise IdentityError(f"the DID document of {did} names no PDS")

    async def signing_key(self, did: str, *, fresh: bool = False) -> str:
        """The DID's ``#atproto`` signing key, as a ``did:key``."""
        document = await self.document(did, fresh=fresh)
        try:
            key = DidDocument.from_dict(document).get_did_key()
        except (ValueError, TypeError) as e:
            raise IdentityError(f"the DID document of {did} cannot be read: {e}") from e
        if key is None:
            raise IdentityError(f"the DID document of {did} gives no signing key")
        return str(key)
