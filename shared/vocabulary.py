"""The service's words, each a closed set: the networks, how sure it is of an account, what
a person consents to, how a contact was delivered. One home for each, imported by the core,
the adapters and the database alike (no database here)."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Network(StrEnum):
    """The networks a person may have an identity on."""

    X = "x"
    BLUESKY = "bluesky"
    MASTODON = "mastodon"


class TrustLevel(StrEnum):
    """How sure the service is that an identity belongs to its person."""

    PROVEN = "proven"
    """Shown by a challenge post from the account itself (Bluesky, Mastodon)."""
    CLAIMED = "claimed"
    """An X account asserted by an uploaded archive, which anyone can write."""
    RESERVED = "reserved"
    """An X account an operator imported (a media outlet), held for its owner's proof."""
    VERIFIED = "verified"
    """An X account whose id X itself reported to the person (Sign in with X)."""


class PersonKind(StrEnum):
    """A person on the service is either an individual or an organisation such as a media outlet."""

    INDIVIDUAL = "individual"
    ORGANISATION = "organisation"


class Direction(IntEnum):
    """Which way an X follow edge points, seen from the archive's owner."""

    FOLLOWER = 1
    """The other account follows the owner (``follower.js``)."""
    FOLLOWING = 2
    """The owner follows the other account (``following.js``)."""


class Purpose(StrEnum):
    """What a person may consent to, each separately."""

    SUGGESTIONS_BY_MESSAGE = "suggestions_by_message"
    FOLLOWS_ON_BEHALF = "follows_on_behalf"
    PUBLIC_DIRECTORY = "public_directory"
    PUBLIC_ATTESTATION = "public_attestation"


class ActionStatus(StrEnum):
    """Lifecycle of an outbound action; see :class:`OutboundAction`."""

    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"


class UploadState(StrEnum):
    """Where an uploaded archive is; see :class:`~shared.db.models.ArchiveUpload`."""

    RECEIVING = "receiving"
    """Its bytes are coming to a web process."""
    READING = "reading"
    """Received; waiting for a work process to read what it holds, or being read."""
    WAITING = "waiting"
    """Read: waiting for its person to confirm the import."""
    IMPORTING = "importing"
    """Confirmed; waiting for a work process to import it, or being imported."""
    IMPORTED = "imported"
    REFUSED = "refused"


class Reconnect(StrEnum):
    """Which of a person's former X contacts the service reconnects them with."""

    FOLLOWERS = "followers"
    FOLLOWINGS = "followings"
    BOTH = "both"


class Via(StrEnum):
    """How a contact was delivered to a person on a network (``delivery.via``)."""

    LIST = "list"
    """In their own pack."""
    SHARED = "shared"
    """In a pack many people share."""
    MESSAGE = "message"
    """By their address, in a message."""
    BRIDGE = "bridge"
    """By their Bridgy Fed address (they are only on the other network)."""
    FOLLOWED = "followed"
    """Followed for the person, with their grant."""
    FOLLOWS = "follows"
    """The person already follows them there: nothing sent."""
    ELSEWHERE = "elsewhere"
    """The person gets them on another of their networks, not here."""

    @classmethod
    def in_packs(cls) -> tuple[Via, ...]:
        return (cls.LIST, cls.SHARED)

    @classmethod
    def by_address(cls) -> tuple[Via, ...]:
        """What a person's following list to import is made of."""
        return (cls.MESSAGE, cls.BRIDGE)


class RunKind(StrEnum):
    """Why a reconnection run happened."""

    CUTOVER = "cutover"
    """The first full delivery, at ``HQX_CUTOVER_AT``."""
    REMATCH = "rematch"
    """Everything matched again on the schedule (daily by default); only what is new goes."""
    WATCH = "watch"
    """Someone linked or uploaded: only the pairs touching them, delivered at once."""


class DirectoryStatus(StrEnum):
    """Where an outlet stands with X, as the campaign's directory shows it."""

    CONSIDERING = "considering"
    COMMITTED = "committed"
    LEFT = "left"


class XButton(StrEnum):
    """Whether an outlet's site still shows X's share button: the outlet's own statement."""

    SHOWN = "shown"
    REMOVED = "removed"


class Tally(StrEnum):
    """What is counted for an outlet, per day, as a number and nothing else."""

    SHARE = "share"
    """A reader sent to their network's composer from the outlet's share button."""
    INVITATION = "invitation"
    """Someone set off from the outlet's invitation page towards the bot."""


class XStanding(StrEnum):
    """How an X account stands with its person, in one word: what people are shown and
    what an attestation may say (see :func:`shared.identity.linking.x_standing`)."""

    DISPUTED = "disputed"
    """Someone else holds or claims it too: nothing is said of it."""
    VERIFIED = "verified"
    """X itself reported its id to the person (Sign in with X)."""
    USERNAME = "username"
    """Its username proven by a post on X; its id only claimed."""
    CLAIMED = "claimed"
    """Asserted by an archive, which anyone can write."""
    RESERVED = "reserved"
    """Imported by an operator, held for its owner's proof."""


class Role(StrEnum):
    """What a process of the service does (``hqx run --role``); all of them at once is the
    all-in-one service, the default."""

    WEB = "web"
    """The portal, the registry and the upload endpoints."""
    WORK = "work"
    """Delivery, and the scheduled jobs (each by one process at a time)."""
    BOTS = "bots"
    """The receiving loops: one process per network active, the others waiting."""
