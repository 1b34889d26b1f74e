"""One-time links to upload an X archive: issued to an account the bot has verified, used
once (a failed import gives the link back), expiring."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import Session, col

from shared.clock import utcnow
from shared.db.models import UploadToken
from shared.errors import HqxError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

UPLOAD_PATH = "/x/upload/"
FOLLOWING_PATH = "/x/following/"
"""Followed by a following-list link's token: the person's contacts to import on Mastodon."""
SPACE_PATH = "/me/signin/"
"""Followed by a sign-in link's token: the person's own space on the portal."""
UPLOAD, FOLLOWING, SPACE = "upload", "following", "space"
"""What a token is for."""
TTL = {UPLOAD: timedelta(hours=24), FOLLOWING: timedelta(days=7), SPACE: timedelta(minutes=15)}
"""How long a token of each purpose can be used: a sign-in link is short-lived."""
SIGNIN_PATH = "/x/signin/"
"""Followed by an upload link's token: "Sign in with X" for the same person."""
LINK_PATHS = (UPLOAD_PATH, FOLLOWING_PATH, SPACE_PATH, SIGNIN_PATH)
"""Every path a one-time link's token follows: what logs hide and what the portal paces."""


class UploadLinkError(HqxError):
    """The link cannot be used: unknown, used, or expired."""


def hashed(secret: str) -> str:
    """What is stored of a link's token (or an upload's key): its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(session: Session, person_id: int, *, now: datetime, purpose: str = UPLOAD) -> str:
    """A new token for ``person_id`` (in the caller's transaction)."""
    token = secrets.token_urlsafe(32)
    session.add(
        UploadToken(
            token_hash=hashed(token),
            person_id=person_id,
            expires_at=now + TTL[purpose],
            purpose=purpose,
        )
    )
    return token


def link(public_url: str, token: str, path: str = UPLOAD_PATH) -> str:
    """The link a person opens."""
    return f"{public_url.rstrip('/')}{path}{token}"


def check(engine: Engine, token: str, *, used_ok: bool = False, purpose: str = UPLOAD) -> int:
    """The person a usable token is for (``used_ok``: even once an upload used it, as
    "Sign in with X" may, until it expires); :class:`UploadLinkError` otherwise."""
    with Session(engine) as session:
        found = session.get(UploadToken, hashed(token))
        if found is not None and found.purpose != purpose:
            found = None
        _usable(found, used_ok=used_ok)
        assert found is not None  # noqa: S101  (checked)
        return found.person_id


def claim(engine: Engine, token: str, purpose: str = UPLOAD) -> int:
    """Take the token for one upload (one at a time: a second claim is refused clearly);
    return its person. The write comes first, so concurrent claims queue on it, never
    deadlock (SQLite refuses a read transaction's upgrade to a write when another writes)."""
    now = utcnow()
    with Session(engine) as session, session.begin():
        taken = session.execute(
            update(UploadToken)
            .where(
                col(UploadToken.token_hash) == hashed(token),
                col(UploadToken.purpose) == purpose,
                col(UploadToken.used_at).is_(None),
                col(UploadToken.expires_at) > now,
            )
            .values(used_at=now)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            found = session.get(UploadToken, hashed(token))
            assert found is not None  # noqa: S101  (just updated)
            return found.person_id
    check(engine, token, purpose=purpose)  # says why: unknown, expired, or in use right now
    raise UploadLinkError("this link was used already: ask the bot for a new one")


def release(engine: Engine, token_hash: str) -> None:
    """Give the token (of SHA-256 ``token_hash``) back after a failed import, so that the
    person can try another file."""
    with Session(engine) as session, session.begin():
        session.execute(
            update(UploadToken)
            .where(col(UploadToken.token_hash) == token_hash)
            .values(used_at=None)
        )


def _usable(found: UploadToken | None, *, used_ok: bool = False) -> None:
    if found is None:
        raise UploadLinkError("this upload link is not one of ours")
    if found.used_at is not None and not used_ok:
        raise UploadLinkError("this link was used already: ask the bot for a new one")
    if found.expires_at <= utcnow():
        raise UploadLinkError("this link has expired: ask the bot for a new one")
