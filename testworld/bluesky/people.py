"""People on the local Bluesky network, as tests and the sandbox drive them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atproto import Client, client_utils, models
from atproto_client.exceptions import AtProtocolError

if TYPE_CHECKING:
    from testworld.bluesky.network import BlueskyDevNetwork

LOGIN_RETRY_SEC = 10.0
PASSWORD = "hqx-devnet-password"  # noqa: S105  (accounts on a throwaway local network)


@dataclass
class Person:
    """An account on the local network, logged in."""

    handle: str
    did: str
    client: Client

    def post(
        self,
        text: str,
        mention: Person | None = None,
        langs: list[str] | None = None,
        reply_to: models.AppBskyFeedPost.ReplyRef | None = None,
    ) -> models.AppBskyFeedPost.CreateRecordResponse:
        """Post ``text``, followed by a real mention facet of ``mention`` if given, declaring
        ``langs``, in reply to ``reply_to`` if given."""
        builder = client_utils.TextBuilder().text(text)
        if mention is not None:
            builder.text(" ").mention(f"@{mention.handle}", mention.did)
        return self.client.send_post(builder, langs=langs, reply_to=reply_to)

    def answers_from(self, other: Person) -> list[models.AppBskyFeedPost.Record]:
        """Posts of ``other`` that reply to or mention this person, oldest first."""
        return [
            n.record
            for n in reversed(self.notifications())
            if n.author.did == other.did and n.reason in ("reply", "mention")
        ]

    def follow(self, other: Person) -> None:
        """Follow ``other`` (a real app.bsky.graph.follow record)."""
        self.client.follow(other.did)

    def allow_messages_from(self, who: str) -> None:
        """Write this person's chat declaration: ``all``, ``following`` or ``none``."""
        self.client.com.atproto.repo.put_record(
            models.ComAtprotoRepoPutRecord.Data(
                repo=self.did,
                collection="chat.bsky.actor.declaration",
                rkey="self",
                record={"$type": "chat.bsky.actor.declaration", "allowIncoming": who},
            )
        )

    def chat(self, proxy: str) -> Any:
        """The chat.bsky namespace, through the PDS's proxy to the service ``did#id``."""
        did, _, service = proxy.partition("#")
        return self.client.with_proxy(service, did).chat.bsky

    def notifications(
        self, reason: str | None = None
    ) -> list[models.AppBskyNotificationListNotifications.Notification]:
        """Notifications as the AppView lists them, newest first."""
        listed = self.client.app.bsky.notification.list_notifications()
        return [n for n in listed.notifications if reason is None or n.reason == reason]


def create_person(network: BlueskyDevNetwork, name: str) -> Person:
    """Create ``NAME.test`` on the network's PDS and log in as it."""
    assert network.urls is not None  # noqa: S101  (a started network)
    handle = f"{name}.test"  # handles on dev-env's PDS must end in .test
    admin = Client(base_url=f"{network.urls.pds}/xrpc")
    created = admin.com.atproto.server.create_account(
        models.ComAtprotoServerCreateAccount.Data(
            handle=handle, email=f"{name}@example.test", password=PASSWORD
        )
    )
    network.process_all()
    client = Client(base_url=f"{network.urls.pds}/xrpc")
    deadline = time.monotonic() + LOGIN_RETRY_SEC
    while True:
        try:
            # The first login reads the profile from the AppView, which may lag the PDS.
            client.login(handle, PASSWORD)
            break
        except AtProtocolError:
            if time.monotonic() > deadline:
                raise
            network.process_all()
            time.sleep(0.1)
    return Person(handle=handle, did=created.did, client=client)
