"""The bot's own repository on its PDS: its profile and chat declaration, its replies, the
lists and starter packs it keeps for people, its attestations. Every record is written under
a key fixed by the action that asks for it, so that a retry after a crash finds what was
written instead of writing it twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from atproto import client_utils, models
from atproto_client.exceptions import BadRequestError, RateLimitExceededError, RequestErrorBase

from bsky_service.text import fit
from bsky_service.tid import tid, tid_of
from shared.clock import iso_utc
from shared.identity import attestation
from shared.protocol import Delivered, DeliveryError

if TYPE_CHECKING:
    import httpx
    from atproto import AsyncClient

    from shared.actions import Reply, WithdrawMembers, WriteCollection
    from shared.protocol import Outgoing

POST = "app.bsky.feed.post"
PROFILE = "app.bsky.actor.profile"
POST_MAX_GRAPHEMES = 300
BOT_LABEL = "bot"
DECLARATION = "chat.bsky.actor.declaration"
RATE_LIMIT_HEADERS = ("ratelimit-remaining", "ratelimit-reset")
LIST = "app.bsky.graph.list"
LIST_ITEM = "app.bsky.graph.listitem"
STARTER_PACK = "app.bsky.graph.starterpack"
REFERENCE_LIST = "app.bsky.graph.defs#referencelist"
LIST_NAME_MAX = 64
PACK_NAME_MAX = 50
# The record keys of a collection's records are TIDs of a moment long past (no post of the
# bot's has one), derived from the collection's id and the member's place: written again,
# a record lands on the same key.
COLLECTION_EPOCH_MICROS = 1_672_531_200_000_000  # 2023-01-01T00:00:00Z
COLLECTION_SLOTS = 4096
CREATE_COST = 3  # points a created record costs of the bot's write budget


class WriteLimits:
    """The PDS's rate-limit headers on the bot's writes, as last read: a batch that would
    overdraw the window waits for its reset instead of being refused (a 429 costs the
    attempt, and a refused ``applyWrites`` writes nothing)."""

    def __init__(self) -> None:
        self.remaining: int | None = None
        self.reset_at: datetime | None = None

    async def read(self, response: httpx.Response) -> None:
        """An httpx response hook: keep the window of repository writes."""
        if "/xrpc/com.atproto.repo." not in response.request.url.path:
            return
        remaining, reset = (response.headers.get(h) for h in RATE_LIMIT_HEADERS)
        if remaining is None or reset is None:
            return  # a PDS that sends none (a self-hosted one may not)
        try:
            self.remaining = int(remaining)
            self.reset_at = datetime.fromtimestamp(int(reset), UTC)
        except ValueError:
            return

    def check(self, cost: int, now: datetime) -> None:
        """Raise :class:`DeliveryError` (retry at the reset) when ``cost`` points would
        overdraw what the window has left."""
        if self.remaining is None or self.reset_at is None or self.reset_at <= now:
            return
        if self.remaining < cost:
            raise DeliveryError(
                f"Bluesky write budget: {self.remaining} points left, {cost} needed, "
                f"until {self.reset_at.isoformat()}",
                retry_at=self.reset_at,
            )


def collection_rkey(collection: int, slot: int) -> str:
    """The record key of a collection's record: slot 0 its list, 1 its starter pack, 2 and
    on its members in order."""
    if not 0 <= slot < COLLECTION_SLOTS:
        raise DeliveryError(f"collection {collection} has no slot {slot}", permanent=True)
    return tid_of(COLLECTION_EPOCH_MICROS + collection * COLLECTION_SLOTS + slot, 0)


class BotRepo:
    """The bot's repository, through its logged-in client."""

    def __init__(self, client: AsyncClient, did: str, limits: WriteLimits) -> None:
        self._client, self.did, self._limits = client, did, limits

    async def label_as_bot(self) -> None:
        """Self-label the profile ``bot``, as Bluesky's bot guidelines ask; keep the rest."""
        try:
            current = await self._client.com.atproto.repo.get_record(
                {"repo": self.did, "collection": PROFILE, "rkey": "self"}
            )
            profile: dict[str, Any] = as_dict(current.value)
            swap: str | None = current.cid
        except BadRequestError:  # RecordNotFound: the account has no profile yet
            profile = {"$type": PROFILE, "displayName": "HelloQuitteX"}
            swap = None
        labels = profile.get("labels") or {}
        values = [v.get("val") for v in labels.get("values", [])]
        if BOT_LABEL in values:
            return
        profile["labels"] = {
            "$type": "com.atproto.label.defs#selfLabels",
            "values": [*labels.get("values", []), {"val": BOT_LABEL}],
        }
        await self._client.com.atproto.repo.put_record(
            {"repo": self.did, "collection": PROFILE, "rkey": "self",
             "record": profile, "swapRecord": swap}
        )  # fmt: skip

    async def declare_messages(self, allow: str) -> None:
        """Say who may write to the bot: everyone while it reads messages, nobody when the
        operator turned them off (``chat.bsky.actor.declaration``); written only on change."""
        try:
            current = await self._client.com.atproto.repo.get_record(
                {"repo": self.did, "collection": DECLARATION, "rkey": "self"}
            )
            if as_dict(current.value).get("allowIncoming") == allow:
                return
        except BadRequestError:
            pass  # no declaration yet
        await self._client.com.atproto.repo.put_record(
            {"repo": self.did, "collection": DECLARATION, "rkey": "self",
             "record": {"$type": DECLARATION, "allowIncoming": allow}}
        )  # fmt: skip

    async def reply(self, outgoing: Outgoing, reply: Reply) -> Delivered:
        """A reply in the person's thread, under a key derived from its action."""
        rkey = tid(outgoing.created_at, outgoing.action_id)
        uri = f"at://{self.did}/{POST}/{rkey}"
        # A retry may follow a crash after the post was made: look before posting again.
        if outgoing.attempts > 1 and await self.exists(rkey):
            return Delivered(uri)
        record = _reply_record(reply, outgoing.created_at)
        try:
            await self._client.com.atproto.repo.create_record(
                {"repo": self.did, "collection": POST, "rkey": rkey, "record": record}
            )
        except (RateLimitExceededError, BadRequestError):
            raise
        except RequestErrorBase:
            # The PDS answers 500 when the key exists: the post may have been made.
            if await self.exists(rkey):
                return Delivered(uri)
            raise
        return Delivered(uri)

    async def collect(self, outgoing: Outgoing, action: WriteCollection) -> Delivered:
        """A list with its starter pack, and/or members added to it, in one ``applyWrites``:
        all of it or nothing is written, so after a crash, finding its first record means
        it was all written."""
        list_uri = f"at://{self.did}/{LIST}/{collection_rkey(action.collection, 0)}"
        writes = _collection_writes(action, list_uri, iso_utc(outgoing.created_at))
        if not writes:
            return Delivered(list_uri)
        first = writes[0]
        if outgoing.attempts > 1 and await self.exists(first.rkey, first.collection):
            return Delivered(list_uri)
        self._limits.check(len(writes) * CREATE_COST, datetime.now(UTC))
        try:
            await self._client.com.atproto.repo.apply_writes(
                models.ComAtprotoRepoApplyWrites.Data(repo=self.did, writes=writes)
            )
        except (RateLimitExceededError, BadRequestError):
            raise
        except RequestErrorBase:
            if await self.exists(first.rkey, first.collection):  # written, answer lost
                return Delivered(list_uri)
            raise
        return Delivered(list_uri)

    async def uncollect(self, action: WithdrawMembers) -> Delivered:
        """Delete a collection's items (and with ``drop`` its pack and list), one record at
        a time: deleting a record that is gone succeeds, so a retry is harmless."""
        records = [(LIST_ITEM, collection_rkey(action.collection, 2 + s)) for s in action.seqs]
        if action.drop:
            records += [
                (STARTER_PACK, collection_rkey(action.collection, 1)),
                (LIST, collection_rkey(action.collection, 0)),
            ]
        for collection, rkey in records:
            await self._client.com.atproto.repo.delete_record(
                {"repo": self.did, "collection": collection, "rkey": rkey}
            )
        return Delivered(f"at://{self.did}/{LIST}/{collection_rkey(action.collection, 0)}")

    async def attest(self, rkey: str, record: dict[str, Any]) -> Delivered:
        """Write (or rewrite) an attestation; a put under a fixed key is idempotent."""
        written = await self._client.com.atproto.repo.put_record(
            {
                "repo": self.did,
                "collection": attestation.COLLECTION,
                "rkey": rkey,
                "record": record,
                "validate": False,  # our lexicon: the PDS does not know it
            }
        )
        return Delivered(written.uri)

    async def delete(self, uri: str) -> Delivered:
        """Delete one of the bot's records (deleting a missing record succeeds: idempotent)."""
        repo, collection, rkey = uri.removeprefix("at://").split("/")
        if repo != self.did:
            raise DeliveryError(f"{uri} is not the bot's to delete", permanent=True)
        await self._client.com.atproto.repo.delete_record(
            {"repo": repo, "collection": collection, "rkey": rkey}
        )
        return Delivered(uri)

    async def exists(self, rkey: str, collection: str = POST) -> bool:
        """Whether the bot's repository holds this record."""
        try:
            await self._client.com.atproto.repo.get_record(
                {"repo": self.did, "collection": collection, "rkey": rkey}
            )
        except BadRequestError:
            return False
        return True


def _collection_writes(
    action: WriteCollection, list_uri: str, moment: str
) -> list[models.ComAtprotoRepoApplyWrites.Create]:
    """The records a collection's action creates: its list and pack first when new, then
    its members, each under its slot's key."""

    def create(collection: str, slot: int, value: dict[str, Any]) -> Any:
        return models.ComAtprotoRepoApplyWrites.Create(
            collection=collection, rkey=collection_rkey(action.collection, slot),
            value={"$type": collection, **value, "createdAt": moment},
        )  # fmt: skip

    writes = []
    if action.create:
        writes.append(create(LIST, 0, {
            "purpose": REFERENCE_LIST, "name": action.name[:LIST_NAME_MAX],
            "description": action.description,
        }))  # fmt: skip
        writes.append(create(STARTER_PACK, 1, {
            "name": action.name[:PACK_NAME_MAX], "description": action.description,
            "list": list_uri,
        }))  # fmt: skip
    for member in action.members:
        writes.append(create(LIST_ITEM, 2 + member.seq, {"subject": member.subject,
                                                         "list": list_uri}))  # fmt: skip
    return writes


def _reply_record(reply: Reply, created_at: datetime) -> models.AppBskyFeedPost.Record:
    """The reply record: a mention of the person, the text, and the thread references."""
    context = reply.context
    mention = f"@{reply.to.handle}"
    text = fit(reply.text, POST_MAX_GRAPHEMES - len(mention) - 1)
    builder = client_utils.TextBuilder().mention(mention, reply.to.subject).text(f" {text}")
    return models.AppBskyFeedPost.Record(
        text=builder.build_text(),
        facets=builder.build_facets(),
        langs=[reply.lang],
        created_at=iso_utc(created_at),
        reply=models.AppBskyFeedPost.ReplyRef(
            root=models.ComAtprotoRepoStrongRef.Main(
                uri=context["root_uri"], cid=context["root_cid"]
            ),
            parent=models.ComAtprotoRepoStrongRef.Main(uri=context["uri"], cid=context["cid"]),
        ),
    )


def as_dict(value: Any) -> dict[str, Any]:
    """A record's value as a plain dict (the SDK gives a model or a dict)."""
    if isinstance(value, dict):
        return dict(value)
    dumped: dict[str, Any] = value.model_dump(by_alias=True, exclude_none=True)
    return dumped
