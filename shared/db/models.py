"""The data model. Schema changes go through Alembic revisions in ``migrations/versions``.

Sized for 100 million follow edges on PostgreSQL: edges are three integers with a composite
primary key (no surrogate id), and X account ids are stored as signed 64-bit integers (see
:func:`shared.xarchive.xid.to_db`), never as text.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
)
from sqlmodel import Field, Session, SQLModel, UniqueConstraint, col, select

from shared.clock import utcnow
from shared.db.columns import (
    ID,
    NO_AUTOINC,
    ThreadColumn,
    UtcDateTime,
    Words,
    person_fk,
    ts,
    x_account_fk,
)
from shared.identity.accounts import Thread
from shared.vocabulary import (
    ActionStatus,
    DirectoryStatus,
    Network,
    PersonKind,
    Purpose,
    Reconnect,
    Tally,
    TrustLevel,
    UploadState,
    Via,
    XButton,
)

# Named constraints, so that migrations (batch mode on SQLite) can refer to them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Person(SQLModel, table=True):
    """Someone using the service: an individual or an organisation."""

    id: int | None = Field(default=None, sa_type=ID, primary_key=True)
    kind: str = Field(default=PersonKind.INDIVIDUAL, sa_type=String(16))
    locale: str | None = Field(default=None, sa_type=String(8))
    reconnect: str = Field(default=Reconnect.BOTH, sa_type=String(16))
    stopped: bool = False
    """Asked for no more messages: the bot only answers when addressed."""
    forget_requested_at: datetime | None = Field(default=None, sa_type=UtcDateTime())
    """When the person asked to be forgotten; a confirmation soon after erases them."""
    match_requested_at: datetime | None = Field(default=None, sa_type=UtcDateTime())
    """Set when what can be matched of this person changed (an X account, a link, a stop):
    :func:`shared.reconnection.matching.run_requested` recomputes their matches, then clears it."""
    findable: bool = True
    """Whether former X contacts may find this person (``settings found no`` turns it off)."""
    sessions: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """The generation of the person's portal sessions: "sign out everywhere" moves it on,
    and a session cookie of an earlier generation opens nothing."""
    created_at: datetime = ts()


class XIdentity(SQLModel, table=True):
    """An X account, keyed by its numeric id (the key every follow edge uses)."""

    __tablename__ = "x_identity"

    x_account_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs=NO_AUTOINC)
    person_id: int = person_fk()
    username: str = Field(sa_type=String(64))
    trust: TrustLevel = Field(default=TrustLevel.CLAIMED, sa_type=Words(TrustLevel))
    """What the id rests on: ``claimed``, ``reserved`` or ``verified``
    (:mod:`shared.identity.xtrust`)."""
    username_proven_at: datetime | None = Field(default=None, sa_type=UtcDateTime())
    """When a post on X by @username carried the person's code: control of the username then,
    not of the id."""
    username_proof: str | None = Field(default=None, sa_type=String(1024))
    """That post's URL."""
    created_at: datetime = ts()
    updated_at: datetime = ts()

    @classmethod
    def of_person(cls, session: Session, person_id: int) -> list[XIdentity]:
        """A person's X accounts, in id order."""
        query = select(cls).where(cls.person_id == person_id).order_by(col(cls.x_account_id))
        return list(session.exec(query))


class XClaim(SQLModel, table=True):
    """A claim on an X account someone else holds: while one exists, the account is disputed
    and used for nothing (:mod:`shared.identity.xtrust`)."""

    __tablename__ = "x_claim"
    __table_args__ = (UniqueConstraint("x_account_id", "person_id"),)

    id: int | None = Field(default=None, sa_type=ID, primary_key=True)
    x_account_id: int = x_account_fk(index=True)
    person_id: int = person_fk()
    username: str = Field(sa_type=String(64))
    """The username the claimant's archive gives."""
    verified: bool = False
    """X itself reported the account to the claimant too (while another held it verified):
    an operator may settle it their way."""
    created_at: datetime = ts()


class Identity(SQLModel, table=True):
    """An account on a network the bots act on: a Bluesky DID or a Mastodon account URI."""

    __table_args__ = (UniqueConstraint("network", "subject"),)

    id: int | None = Field(default=None, sa_type=ID, primary_key=True)
    person_id: int = person_fk()
    network: Network = Field(sa_type=Words(Network))
    subject: str = Field(sa_type=String(512))
    """The stable id: a DID on Bluesky, the account URI on Mastodon."""
    handle: str = Field(sa_type=String(512))
    """What people type: the Bluesky handle, or the Mastodon ``user@domain`` acct."""
    trust: TrustLevel = Field(default=TrustLevel.PROVEN, sa_type=Words(TrustLevel))
    thread: Thread | None = Field(default=None, sa_type=ThreadColumn())
    """The last post this account addressed to the bot (id, direct or not, the adapter's
    reply context): suggestions go there, in a conversation the person started (Mastodon
    4.3+ filters private mentions from accounts a person does not follow, except there)."""
    created_at: datetime = ts()
    updated_at: datetime = ts()

    @classmethod
    def of_person(cls, session: Session, person_id: int) -> list[Identity]:
        """A person's accounts on the networks the bots act on, oldest first."""
        query = select(cls).where(cls.person_id == person_id).order_by(col(cls.id))
        return list(session.exec(query))

    @classmethod
    def find(cls, session: Session, network: Network, subject: str) -> Identity | None:
        """The identity of an account, if the service knows it."""
        query = select(cls).where(cls.network == network, cls.subject == subject)
        return session.exec(query).one_or_none()


class LinkProof(SQLModel, table=True):
    """A post that proved an identity belongs to a person; each challenge nonce is used once."""

    __tablename__ = "link_proof"

    id: int | None = Field(default=None, sa_type=ID, primary_key=True)
    person_id: int = person_fk()
    network: Network = Field(sa_type=Words(Network))
    subject: str = Field(sa_type=String(512))
    code: str = Field(sa_type=String(64), unique=True)
    """The code's digest (:attr:`shared.identity.challenge.Code.digest`): a code proves once."""
    post_uri: str = Field(sa_type=String(1024))
    post_url: str | None = Field(default=None, sa_type=String(1024))
    verified_at: datetime = ts()


class ArchiveImport(SQLModel, table=True):
    """The current import of an X account's archive (a new import replaces it)."""

    __tablename__ = "archive_import"

    id: int | None = Field(default=None, sa_type=ID, primary_key=True)
    x_account_id: int = x_account_fk(unique=True)
    followers: int = Field(default=0, sa_type=BigInteger)
    following: int = Field(default=0, sa_type=BigInteger)
    rejected_rows: int = Field(default=0, sa_type=BigInteger)
    duplicate_rows: int = Field(default=0, sa_type=BigInteger)
    files: list[str] = Field(default_factory=list, sa_type=JSON)
    imported_at: datetime = ts()


class FollowEdge(SQLModel, table=True):
    """One X follow relation from an imported archive.

    No foreign key on ``owner_x_id``: checking one per row would slow bulk loads of millions
    of rows; edges are deleted with their import by the code that deletes the import.
    """

    __tablename__ = "follow_edge"
    __table_args__ = (
        # Matching from the other side: who, among imported archives, follows/is followed by X.
        Index("ix_follow_edge_other", "other_x_id", "direction", "owner_x_id"),
        {"sqlite_with_rowid": False},
    )

    owner_x_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs=NO_AUTOINC)
    direction: int = Field(sa_type=SmallInteger, primary_key=True, sa_column_kwargs=NO_AUTOINC)
    other_x_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs=NO_AUTOINC)


class XMatch(SQLModel, table=True):
    """One follow on X between two people of the service: ``follower_id``'s person
    followed ``followee_id``'s. Each is the other's former contact (a following for the
    first, a follower for the second), stored once: the full match writes half the rows.
    Kept current by :mod:`shared.reconnection.matching`; what is delivered of it is recorded
    apart."""

    __tablename__ = "x_match"
    __table_args__ = (
        # A person's followers among the matches.
        Index("ix_x_match_followee", "followee_id", "follower_id"),
        # What was found since the last run.
        Index("ix_x_match_found_at", "found_at"),
        {"sqlite_with_rowid": False},
    )

    follower_id: int = Field(
        sa_column=Column(ID, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    followee_id: int = Field(
        sa_column=Column(ID, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    found_at: datetime = ts()


class Consent(SQLModel, table=True):
    """Whether a person allows one purpose; absence means no."""

    person_id: int = Field(
        sa_column=Column(ID, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    purpose: Purpose = Field(sa_type=Words(Purpose, 32), primary_key=True)
    granted: bool = False
    updated_at: datetime = ts()


class OutboundAction(SQLModel, table=True):
    """A message, record or follow to send, recorded before it is sent.

    The unique ``idempotency_key`` makes queuing the same action twice a no-op, and the
    status moves pending -> sending -> done (or failed) so that a crash never repeats a send.
    """

    __tablename__ = "outbound_action"
    # The sender's query (:func:`shared.outbox.due`) reads it in order: no sort of the due.
    __table_args__ = (Index("ix_outbound_action_due", "network", "status", "kind", "not_before"),)

    id: int | None = Field(default=None, sa_type=ID, primary_key=True)
    idempotency_key: str = Field(sa_type=String(200), unique=True)
    person_id: int | None = person_fk(nullable=True)
    network: Network = Field(sa_type=Words(Network))
    kind: str = Field(sa_type=String(32))
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: ActionStatus = Field(default=ActionStatus.PENDING, sa_type=Words(ActionStatus))
    attempts: int = 0
    not_before: datetime = ts()
    remote_ref: str | None = Field(default=None, sa_type=String(1024))
    after: str | None = Field(default=None, sa_type=String(200))
    """The idempotency key of an action that must be done first (a pack before the message
    that gives its link); it is not due before, and fails if that one fails."""
    cost: int = 0
    """What it costs of the network's write budget (Bluesky points: a record created is 3)."""
    claimed_by: str | None = Field(default=None, sa_type=String(200))
    """While ``sending``: the lease holder sending it (:mod:`shared.lease`). Recovery puts it
    back only once that lease has expired: a live process's sends are never touched."""
    last_error: str | None = Field(default=None, sa_type=String(2000))
    created_at: datetime = ts()
    updated_at: datetime = ts()


class InboundPost(SQLModel, table=True):
    """A post addressed to the bot, recorded when it is handled: each is handled once, even
    when two roads (streaming and polling, a restart) deliver it twice."""

    __tablename__ = "inbound_post"

    network: Network = Field(sa_type=Words(Network), primary_key=True)
    post_id: str = Field(sa_type=String(512), primary_key=True)
    """A post's AT URI on Bluesky, a status id on Mastodon."""
    author: str = Field(sa_type=String(512), index=True)
    """The author's subject (DID, account URI), to throttle and to erase on request."""
    received_at: datetime = ts()


class BotState(SQLModel, table=True):
    """Small values a bot must keep across restarts: stream cursors, watermarks, sessions."""

    __tablename__ = "bot_state"

    key: str = Field(sa_type=String(128), primary_key=True)
    value: str = Field(sa_type=String(8000))
    updated_at: datetime = ts()


class LinkRequest(SQLModel, table=True):
    """Where to confirm a link once its code is posted: the request's thread. Verifying a code
    never reads this (codes carry what they need); it is deleted when the code is used."""

    __tablename__ = "link_request"

    code: str = Field(sa_type=String(64), primary_key=True)
    """The code's digest (:attr:`shared.identity.challenge.Code.digest`)."""
    identity_id: int = Field(
        sa_column=Column(ID, ForeignKey("identity.id", ondelete="CASCADE"), nullable=False)
    )
    target_network: Network = Field(sa_type=Words(Network))
    target_handle: str = Field(sa_type=String(512))
    reply: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    """The request post, as :func:`shared.outbox.reply_payload` stores a post to answer."""
    expires_at: datetime = Field(sa_type=UtcDateTime())
    created_at: datetime = ts()


class ServiceLease(SQLModel, table=True):
    """A lease on the database (:mod:`shared.lease`): the all-in-one ``hqx run``'s, a
    network's active bots process's, a scheduled job's."""

    __tablename__ = "service_lease"

    name: str = Field(sa_type=String(64), primary_key=True)
    holder: str = Field(sa_type=String(200))
    acquired_at: datetime = ts()
    expires_at: datetime = Field(sa_type=UtcDateTime())
    fence: int = Field(default=0, sa_type=BigInteger(), sa_column_kwargs={"server_default": "0"})
    """How many times the lease was taken: its holder's token. A write made under a lease
    checks it in its own transaction, so a process that lost the lease cannot write."""


class JoinOffer(SQLModel, table=True):
    """An account moved alone to a person by a proof; its former person's other accounts
    join too only when the person confirms from one of their accounts (``join``)."""

    __tablename__ = "join_offer"

    id: int | None = Field(default=None, sa_type=ID, primary_key=True)
    identity_id: int = Field(
        sa_column=Column(ID, ForeignKey("identity.id", ondelete="CASCADE"), nullable=False)
    )
    """The account that moved."""
    from_person: int = Field(
        sa_column=Column(ID, ForeignKey("person.id", ondelete="CASCADE"), nullable=False)
    )
    to_person: int = Field(
        sa_column=Column(ID, ForeignKey("person.id", ondelete="CASCADE"), nullable=False)
    )
    expires_at: datetime = Field(sa_type=UtcDateTime())
    created_at: datetime = ts()


class UploadToken(SQLModel, table=True):
    """A one-time link to upload an X archive, given by the bot to a verified account.
    Only the token's SHA-256 is stored: the database cannot be used to upload."""

    __tablename__ = "upload_token"

    token_hash: str = Field(sa_type=String(64), primary_key=True)
    person_id: int = person_fk()
    purpose: str = Field(default="upload", sa_type=String(16))
    """``upload`` (an X archive), ``following`` (download one's following list to import)."""
    expires_at: datetime = Field(sa_type=UtcDateTime())
    used_at: datetime | None = Field(default=None, sa_type=UtcDateTime())
    created_at: datetime = ts()


class ArchiveUpload(SQLModel, table=True):
    """An archive uploaded through a link, from its first byte to its import: its file is
    ``upload-<key_hash>/archive.zip`` in the uploads folder (shared by the web and work
    processes) until it is imported, refused, dropped or expired. The row comes first, so
    that every folder there has one. Only the key's SHA-256 is stored, as for links."""

    __tablename__ = "archive_upload"

    key_hash: str = Field(sa_type=String(64), primary_key=True)
    token_hash: str = Field(
        sa_column=Column(
            String(64),
            ForeignKey("upload_token.token_hash", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    person_id: int = person_fk()
    state: UploadState = Field(sa_type=Words(UploadState), index=True)
    claimed_by: str | None = Field(default=None, sa_type=String(255))
    """The lease holder of the work process reading or importing it now."""
    attempts: int = 0
    """Work processes that took it (one that died leaves it to another, a few times)."""
    username: str | None = Field(default=None, sa_type=String(64))
    """What it holds, once read, for its person to confirm; counts after the import."""
    followers: int | None = None
    following: int | None = None
    rejected_rows: int | None = None
    error: str | None = Field(default=None, sa_type=Text)
    """Why it was refused, in one line, and the HTTP status its page answers with."""
    error_status: int | None = None
    expires_at: datetime = Field(sa_type=UtcDateTime())
    """When the row and its file go, whatever state they are in."""
    created_at: datetime = ts()
    updated_at: datetime = ts()


class ReconnectRun(SQLModel, table=True):
    """A reconnection run, recorded before it starts: unique by ``key`` (a run is never made
    twice), finished when ``finished_at`` is set (an unfinished one is resumed)."""

    __tablename__ = "reconnect_run"

    id: int | None = Field(default=None, sa_type=ID, primary_key=True)
    key: str = Field(sa_type=String(64), unique=True)
    """``cutover``, ``rematch:2026-12-01``, ``watch:<time>``."""
    kind: str = Field(sa_type=String(16))
    started_at: datetime = ts()
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime())
    found: int = 0
    """Matches found by the run's matching."""
    delivered: int = 0
    """Pairs (person, contact, network) delivered by the run."""
    actions: int = 0
    """Outbound actions the run queued."""
    points: int = 0
    """Write budget the run planned to spend."""
    deferred: int = 0
    """Pairs left for a later run (no budget left today)."""


class Delivery(SQLModel, table=True):
    """A contact delivered to a person on a network: in a pack or list, by message, or by its
    Bridgy Fed address. Written in the transaction that queues the actions: a contact is
    delivered once per network, whatever runs come after."""

    __table_args__ = (Index("ix_delivery_contact", "contact_id"),)

    person_id: int = Field(
        sa_column=Column(ID, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    contact_id: int = Field(
        sa_column=Column(ID, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    network: Network = Field(sa_type=Words(Network), primary_key=True)
    """Where the person received it."""
    via: Via = Field(sa_type=Words(Via))
    """How it was delivered: a :class:`Via`."""
    collection_id: int | None = Field(
        default=None,
        sa_column=Column(ID, ForeignKey("collection.id", ondelete="SET NULL"), nullable=True),
    )
    run_id: int | None = Field(
        default=None,
        sa_column=Column(ID, ForeignKey("reconnect_run.id", ondelete="SET NULL"), nullable=True),
    )
    delivered_at: datetime = ts()


class Collection(SQLModel, table=True):
    """A list with its starter pack that the bot keeps on a network: one person's ("Your X
    contacts"), or shared by the people who followed the same accounts (``person_id`` None).
    A pack holds :data:`shared.reconnection.planner.PACK_SIZE` accounts at most; more go to a
    next part."""

    id: int | None = Field(default=None, sa_type=ID, primary_key=True)
    network: Network = Field(sa_type=Words(Network))
    person_id: int | None = person_fk(nullable=True)
    part: int = 1
    members: int = 0
    created_at: datetime = ts()


class CollectionMember(SQLModel, table=True):
    """An account in a collection, by its person; ``seq`` orders members (the adapter derives
    the item's record key from it)."""

    __tablename__ = "collection_member"

    collection_id: int = Field(
        sa_column=Column(ID, ForeignKey("collection.id", ondelete="CASCADE"), primary_key=True)
    )
    contact_id: int = Field(
        sa_column=Column(ID, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    seq: int = 0
    subject: str = Field(sa_type=String(512))
    """The account listed (a DID): what was written, to erase it when asked."""


class DirectoryEntry(SQLModel, table=True):
    """An outlet or organisation in the public media directory: asked for by the person
    through the portal, shown once an operator approved it (``approved_at``)."""

    __tablename__ = "directory_entry"

    person_id: int = Field(
        sa_column=Column(ID, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    SLUG_MAX: ClassVar[int] = 48

    name: str = Field(sa_type=String(120))
    slug: str = Field(sa_type=String(48), unique=True)
    """The outlet's name in addresses (``/join/SLUG``, its share button's ``o=``): made from
    the name when it first asked, then kept, so that its pasted snippets keep counting."""
    status: str = Field(default=DirectoryStatus.CONSIDERING, sa_type=String(16))
    x_button: XButton | None = Field(default=None, sa_type=Words(XButton), nullable=True)
    """Whether its site still shows X's share button, as the outlet says (unknown: None)."""
    requested_at: datetime = ts()
    approved_at: datetime | None = Field(default=None, sa_type=UtcDateTime())
    updated_at: datetime = ts()


class OutletTally(SQLModel, table=True):
    """A number counted for an outlet on a day (shares from its button, people setting off
    from its invitation page): never who, nor from where."""

    __tablename__ = "outlet_tally"

    person_id: int = Field(
        sa_column=Column(ID, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    day: date = Field(primary_key=True)
    kind: Tally = Field(sa_type=Words(Tally), primary_key=True)
    count: int = Field(default=0)


class OutletAudience(SQLModel, table=True):
    """An outlet's audience as last counted (:mod:`shared.portal.audience`): its page reads
    this, counted again every few minutes by the work process, instead of counting a
    million matches for each view. Counts only."""

    __tablename__ = "outlet_audience"

    person_id: int = Field(
        sa_column=Column(ID, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    counted_at: datetime = ts()
    figures: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    """Each figure, by name."""
    days: list[list[Any]] = Field(default_factory=list, sa_type=JSON)
    """``[day, here, reconnected, shares, invitations]`` for each day."""


class OAuthClient(SQLModel, table=True):
    """The service's app on a person's server, registered the first time someone of that
    server connects it (``POST /api/v1/apps``), then reused."""

    __tablename__ = "oauth_client"

    server: str = Field(sa_type=String(255), primary_key=True)
    """The server's origin: ``https://mastodon.example``."""
    client_id: str = Field(sa_type=String(255))
    client_secret: str = Field(sa_type=Text())
    """Sealed with the service's key."""
    redirect_uri: str = Field(sa_type=String(1024))
    created_at: datetime = ts()


class FollowGrant(SQLModel, table=True):
    """A person's authorization for the service to follow accounts for them, as one of
    their accounts; revoked by deleting it (and telling the server)."""

    __tablename__ = "follow_grant"
    __table_args__ = (UniqueConstraint("person_id", "network", "subject"),)

    id: int | None = Field(default=None, sa_type=ID, primary_key=True)
    person_id: int = person_fk()
    network: Network = Field(sa_type=Words(Network))
    server: str = Field(sa_type=String(255))
    subject: str = Field(sa_type=String(1024))
    """The account it acts as (checked when granted: the account linked here)."""
    token: str = Field(sa_type=Text())
    """The access token, sealed with the service's key."""
    scope: str = Field(sa_type=String(255))
    created_at: datetime = ts()


class GrantRevocation(SQLModel, table=True):
    """A grant taken back whose server could not be told yet (its person may be erased
    already): the service tries again until the server knows, for a week at most."""

    __tablename__ = "grant_revocation"

    id: int | None = Field(default=None, sa_type=ID, primary_key=True)
    network: Network = Field(sa_type=Words(Network))
    server: str = Field(sa_type=String(255))
    token: str = Field(sa_type=Text())
    """The grant's token, sealed as it was kept: what the server is told to forget."""
    attempts: int = 0
    next_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime(), index=True)
    last_error: str = Field(default="", sa_type=String(255))
    created_at: datetime = ts()
