"""People on the Mastodon test server, driven through Mastodon.py as a real client would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mastodon import Mastodon

if TYPE_CHECKING:
    from testworld.mastodon.server import Account, MastodonTestServer


@dataclass
class MastodonPerson:
    """An account on the test server and a Mastodon.py client logged in as it."""

    account: Account
    client: Mastodon

    @property
    def acct(self) -> str:
        """The account's acct (``username``; servers with the quirk add the domain)."""
        return self.account.username

    def post(self, text: str, *, direct: bool = False, reply_to: Any = None) -> Any:
        """A status (``direct`` for a direct message), optionally replying."""
        return self.client.status_post(
            text, visibility="direct" if direct else "public", in_reply_to_id=reply_to
        )

    def mentions(self) -> list[Any]:
        """Mention notifications, newest first."""
        return list(self.client.notifications(types=["mention"]))

    def answers_to(self, status: Any) -> list[Any]:
        """Statuses mentioning this person in reply to ``status`` (what the bot said back),
        oldest first."""
        return [n.status for n in reversed(self.mentions()) if n.status.in_reply_to_id == status.id]


def create_person(
    server: MastodonTestServer, base_url: str, username: str, **kwargs: Any
) -> MastodonPerson:
    """A new account on ``server`` (served at ``base_url``) and its client."""
    account = server.create_account(username, **kwargs)
    return MastodonPerson(account, client_for(base_url, account.token))


def client_for(base_url: str, token: str) -> Mastodon:
    """A Mastodon.py client of the server at ``base_url`` with an account's token."""
    return Mastodon(
        access_token=token,
        api_base_url=base_url,
        # Servers that report another version than Mastodon's must not be refused.
        version_check_mode="none",
        ratelimit_method="throw",
    )
