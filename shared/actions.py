"""What the service asks a network to do: typed, versioned values, stored in the outbox.

Each action is a frozen dataclass with a ``kind`` (the outbox's ``kind`` column) and a
``version`` of its stored form; :func:`encode` writes it as JSON data, :func:`decode` reads
it back and refuses, in one clear line, a kind or a version this code does not know (a row
written by a newer release, or damaged). Adapters say which kinds they deliver
(:attr:`shared.protocol.Protocol.delivers`); the core asks them rather than naming networks.

Follows made on a person's behalf (:class:`FollowAccount`) name the person's grant, never
carry its token: the outbox holds no secret.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from shared.errors import HqxError

VERSION = 1
"""The stored form of every kind below."""


class UnknownActionError(HqxError):
    """A stored action of a kind or version this code cannot read."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who an action is for, as their network knows them."""

    subject: str
    """The stable id: a DID, an ActivityPub id."""
    handle: str
    """What the text mentions."""


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer in the thread of a post the bot received; ``direct``: privately (a
    Bluesky message, a Mastodon direct status), even when the post was public."""

    kind: ClassVar[str] = "reply"
    to_post: str
    to: Recipient
    text: str
    lang: str
    direct: bool
    context: dict[str, Any]
    """The adapter's own reply context (thread references, conversation id): opaque here."""
    scrub: bool = False
    """Forget the text and the addressee once sent (they asked to be forgotten)."""


@dataclass(frozen=True, slots=True)
class DirectMessage:
    """A private message that starts (or continues) the bot's conversation with a person,
    not in answer to a post of theirs."""

    kind: ClassVar[str] = "message"
    to: Recipient
    text: str
    lang: str


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete something the bot published, by the reference its network gave it."""

    kind: ClassVar[str] = "delete"
    ref: str


@dataclass(frozen=True, slots=True)
class WriteAttestation:
    """Write (or rewrite) a person's public attestation in the bot's repository."""

    kind: ClassVar[str] = "attest"
    rkey: str
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WithdrawAttestation:
    """Delete a person's public attestation from the bot's repository."""

    kind: ClassVar[str] = "unattest"
    rkey: str


@dataclass(frozen=True, slots=True)
class Member:
    """An account put in a collection; ``seq`` is its place there (record keys derive from
    it, so writing it again cannot make a second item)."""

    seq: int
    subject: str


@dataclass(frozen=True, slots=True)
class WriteCollection:
    """Write a collection the bot keeps (on Bluesky a list and its starter pack): create it
    (``create``) with its name, and/or add members, all in one atomic write."""

    kind: ClassVar[str] = "collection"
    collection: int
    create: bool
    name: str
    description: str
    lang: str
    members: list[Member]


@dataclass(frozen=True, slots=True)
class WithdrawMembers:
    """Take members (by their place) out of a collection the bot keeps; ``drop``: delete the
    collection whole, its list and its starter pack too."""

    kind: ClassVar[str] = "uncollect"
    collection: int
    seqs: list[int]
    drop: bool


@dataclass(frozen=True, slots=True)
class FollowAccount:
    """Follow ``account`` for a person, as the account their ``grant`` authorized: their
    token, never the bot's."""

    kind: ClassVar[str] = "follow"
    grant: int
    account: str
    """The contact's address there: ``user@server``, a Bluesky handle."""
    contact: int
    """The contact's person: a follow that cannot be made leaves them due (by message)."""
    subject: str = ""
    """The contact's account id there (a DID, an ActivityPub id): what a follow names where
    handles change."""


Action = (
    Reply
    | DirectMessage
    | Delete
    | WriteAttestation
    | WithdrawAttestation
    | WriteCollection
    | WithdrawMembers
    | FollowAccount
)
KINDS: dict[str, type[Action]] = {
    cls.kind: cls
    for cls in (
        Reply,
        DirectMessage,
        Delete,
        WriteAttestation,
        WithdrawAttestation,
        WriteCollection,
        WithdrawMembers,
        FollowAccount,
    )
}


def encode(action: Action) -> dict[str, Any]:
    """The action as stored in the outbox's ``payload`` (its kind goes beside it). Field by
    field: ``dataclasses.asdict`` deep-copies every value, a tenth of the cutover's run
    when it queues a crowd's follows."""
    payload: dict[str, Any] = {"v": VERSION}
    for field in dataclasses.fields(action):
        payload[field.name] = _plain(getattr(action, field.name))
    return payload


def _plain(value: Any) -> Any:
    """A field's value as JSON holds it: a nested record as a dict, a list item by item."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def decode(kind: str, payload: dict[str, Any]) -> Action:
    """The action stored as ``kind`` and ``payload``.

    Raises:
        UnknownActionError: a kind or a version this code does not read, or fields that do
            not fit the kind.
    """
    cls = KINDS.get(kind)
    if cls is None:
        raise UnknownActionError(f"outbound action of unknown kind {kind!r}")
    version = payload.get("v")
    if version != VERSION:
        raise UnknownActionError(
            f"outbound {kind!r} of version {version!r}: this release reads version {VERSION}"
        )
    fields = {k: v for k, v in payload.items() if k != "v"}
    if isinstance(fields.get("to"), dict):
        fields["to"] = Recipient(**fields["to"])
    try:
        if isinstance(fields.get("members"), list):
            fields["members"] = [Member(**m) for m in fields["members"]]
        return cls(**fields)
    except TypeError as e:
        raise UnknownActionError(f"outbound {kind!r} does not fit its kind: {e}") from None
