"""The service as an OAuth client of people's Mastodon-API servers: what ending a grant takes
there (RFC 7009 revocation, as Mastodon, GoToSocial and Akkoma take it at ``/oauth/revoke``),
through the service's guarded client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.outbound import OutboundError

if TYPE_CHECKING:
    from shared.outbound import Outbound
    from shared.reconnection.grants import Client


async def revoke(http: Outbound, client: Client, token: str) -> None:
    """Revoke ``token`` at its server.

    Raises:
        OutboundError: the server could not be told now (unreachable, 429, 5xx). Any other
            answer means it knows the token no more: done.
    """
    answer = await http.request(
        "POST", f"{client.server}/oauth/revoke",
        form={"client_id": client.client_id, "client_secret": client.client_secret,
              "token": token},
    )  # fmt: skip
    if answer.status == 429 or answer.status >= 500:
        raise OutboundError(f"{client.server} answered {answer.status} to the revocation")
