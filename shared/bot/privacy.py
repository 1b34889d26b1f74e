"""A person's say over their data: settings (consent per purpose), stop, and being forgotten."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from shared.actions import Delete, WriteCollection
from shared.bot.commands import Answer, Context, Environment, Outbound, fold
from shared.bot.messages import Lang, say
from shared.clock import utcnow
from shared.db.models import (
    Consent,
    FollowEdge,
    Identity,
    InboundPost,
    OutboundAction,
    Person,
    XIdentity,
)
from shared.identity import attestation, linking
from shared.reconnection import grants, matching, packs
from shared.vocabulary import ActionStatus, Purpose, Reconnect

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

FORGET_CONFIRM_WITHIN = timedelta(minutes=10)
FORGOTTEN = "forgotten"
"""What stays of a forgotten author on the posts they sent (kept so none is handled twice)."""

# Setting word (folded, both languages) -> the purpose it grants or refuses.
_PURPOSES = {
    "messages": Purpose.SUGGESTIONS_BY_MESSAGE,
    "suggestions": Purpose.SUGGESTIONS_BY_MESSAGE,
    "suivre": Purpose.FOLLOWS_ON_BEHALF,
    "follow": Purpose.FOLLOWS_ON_BEHALF,
    "follows": Purpose.FOLLOWS_ON_BEHALF,
    "annuaire": Purpose.PUBLIC_DIRECTORY,
    "directory": Purpose.PUBLIC_DIRECTORY,
    "attestation": Purpose.PUBLIC_ATTESTATION,
}
_SETTING_NAMES = {
    Purpose.SUGGESTIONS_BY_MESSAGE: {Lang.FR: "messages", Lang.EN: "messages"},
    Purpose.FOLLOWS_ON_BEHALF: {Lang.FR: "suivre pour vous", Lang.EN: "follow for you"},
    Purpose.PUBLIC_DIRECTORY: {Lang.FR: "annuaire", Lang.EN: "directory"},
    Purpose.PUBLIC_ATTESTATION: {Lang.FR: "attestation", Lang.EN: "attestation"},
}
_YES, _NO = {"oui", "yes", "o", "y"}, {"non", "no", "n"}
_RECONNECT = {
    "abonnes": Reconnect.FOLLOWERS,
    "followers": Reconnect.FOLLOWERS,
    "abonnements": Reconnect.FOLLOWINGS,
    "followings": Reconnect.FOLLOWINGS,
    "following": Reconnect.FOLLOWINGS,
    "tous": Reconnect.BOTH,
    "both": Reconnect.BOTH,
    "all": Reconnect.BOTH,
}
_FINDABLE = {"trouvable", "found", "findable"}
_CONFIRM = {"confirmer", "confirme", "confirm", "oui", "yes"}


def _person(context: Context[object]) -> Person:
    identity = linking.identity_of(context.session, context.post.network, context.post.author)
    return context.session.get_one(Person, identity.person_id)


def _grant(session: Session, person_id: int, purpose: Purpose, granted: bool) -> None:
    consent = session.get(Consent, (person_id, purpose.value))
    if consent is None:
        consent = Consent(person_id=person_id, purpose=purpose)
    consent.granted, consent.updated_at = granted, utcnow()
    session.add(consent)


def _granted(session: Session, person_id: int) -> dict[str, bool]:
    consents = session.exec(select(Consent).where(Consent.person_id == person_id))
    return {c.purpose: c.granted for c in consents}


SHOWN = (
    ("messages", Purpose.SUGGESTIONS_BY_MESSAGE),
    ("follow", Purpose.FOLLOWS_ON_BEHALF),
    ("directory", Purpose.PUBLIC_DIRECTORY),
    ("attestation", Purpose.PUBLIC_ATTESTATION),
)
"""The consents a person sees and sets, by the name the bot and the portal show."""


def consents(session: Session, person: Person) -> dict[Purpose, bool]:
    """Each purpose, granted or not."""
    assert person.id is not None  # noqa: S101  (stored)
    granted = _granted(session, person.id)
    # Suggestions are what people come for: sent unless they said no (or ``stop``).
    granted.setdefault(Purpose.SUGGESTIONS_BY_MESSAGE.value, not person.stopped)
    return {purpose: granted.get(purpose.value, False) for _name, purpose in SHOWN}


def choose_reconnect(session: Session, person: Person, choice: Reconnect) -> None:
    """Which former contacts to get back: followers, followings or both."""
    person.reconnect = choice.value
    session.add(person)


def set_findable(session: Session, person: Person, findable: bool) -> list[Outbound]:
    """Whether former X contacts may find the person; the pack withdrawals it takes."""
    assert person.id is not None  # noqa: S101  (stored)
    # Their former contacts' deliveries check it, and their matches are recomputed
    # (nothing more is delivered of them from now on).
    person.findable = findable
    session.add(person)
    matching.request(session, person.id)
    return [] if findable else packs.withdraw(session, person.id, own=False)


def set_consent(
    session: Session,
    person: Person,
    purpose: Purpose,
    granted: bool,
    *,
    trigger: str,
    env: Environment,
) -> list[Outbound]:
    """Grant or refuse one purpose; what it takes to publish or withdraw (``trigger``
    names the request, once)."""
    assert person.id is not None  # noqa: S101  (stored)
    _grant(session, person.id, purpose, granted)
    if purpose is Purpose.SUGGESTIONS_BY_MESSAGE and granted and person.stopped:
        # Messages wanted again undo ``stop``; refusing them refuses messages only: matching,
        # packs and follows for them go on, and their contacts still find them.
        person.stopped = False
        session.add(person)
        matching.request(session, person.id)
    if purpose is not Purpose.PUBLIC_ATTESTATION:
        return []
    session.flush()
    if granted:
        return attestation.publish(session, person.id, trigger=trigger, env=env)
    return attestation.withdraw(session, person.id, trigger=trigger, env=env)


def settings(context: Context[None]) -> Answer | str:
    """Show the settings, or change one: ``settings WORD VALUE``."""
    lang, session = context.lang, context.session
    person = _person(context)
    assert person.id is not None  # noqa: S101  (stored)
    words = [fold(w) for w in context.args]
    if not words:
        now = consents(session, person)
        shown = {name: say("yes" if now[p] else "no", lang) for name, p in SHOWN}
        choice = say(f"reconnect.{person.reconnect}", lang)
        found = say("yes" if person.findable else "no", lang)
        return say("settings.show", lang, reconnect=choice, found=found, **shown)
    value = words[1] if len(words) > 1 else ""
    if words[0] in ("reconnecter", "reconnect") and value in _RECONNECT:
        choose_reconnect(session, person, _RECONNECT[value])
        shown_value = say(f"reconnect.{person.reconnect}", lang)
        return say("settings.set", lang, setting=words[0], value=shown_value)
    if words[0] in _FINDABLE and value in _YES | _NO:
        withdrawn = set_findable(session, person, value in _YES)
        shown_value = say("yes" if person.findable else "no", lang)
        text = say("settings.set", lang, setting=words[0], value=shown_value)
        return Answer(text, lang, tuple(withdrawn), person_id=person.id)
    purpose = _PURPOSES.get(words[0])
    if purpose is None or value not in _YES | _NO:
        return say("settings.unknown", lang)
    yes = value in _YES
    trigger = f"{context.post.network}:{context.post.post_id}"
    also = set_consent(session, person, purpose, yes, trigger=trigger, env=context.env)
    name = _SETTING_NAMES[purpose][lang]
    text = say("settings.set", lang, setting=name, value=say("yes" if yes else "no", lang))
    return Answer(text, lang, tuple(also), person_id=person.id)


def stop(context: Context[None]) -> str:
    """No more messages: the bot only answers when addressed."""
    person = _person(context)
    assert person.id is not None  # noqa: S101  (stored)
    person.stopped = True
    context.session.add(person)
    matching.request(context.session, person.id)
    _grant(context.session, person.id, Purpose.SUGGESTIONS_BY_MESSAGE, False)
    return say("stop.done", context.lang)


def forget(context: Context[None]) -> Answer | str:
    """``forget`` asks for a confirmation; ``forget confirm`` soon after erases everything."""
    lang, session, post = context.lang, context.session, context.post
    me = Identity.find(session, post.network, post.author.subject)
    if me is None:
        return say("forget.nothing", lang)
    person = session.get_one(Person, me.person_id)
    confirming = bool(context.args) and fold(context.args[0]) in _CONFIRM
    if not confirming:
        person.forget_requested_at = utcnow()
        session.add(person)
        matching.request(session, me.person_id)  # matched with nobody while it is pending
        return say("forget.ask", lang)
    asked = person.forget_requested_at
    if asked is None or asked < context.env.now - FORGET_CONFIRM_WITHIN:
        return say("forget.unasked", lang)
    deletions = erase(session, me.person_id)
    return Answer(say("forget.done", lang), lang, also=tuple(deletions), scrub=True)


def lapse_forget_requests(engine: Engine) -> int:
    """A ``forget`` never confirmed within :data:`FORGET_CONFIRM_WITHIN` is withdrawn: the
    person is matched and reconnected again (while it was pending, with nobody). How many."""
    with Session(engine) as session, session.begin():
        lapsed = session.exec(
            select(Person.id).where(
                col(Person.forget_requested_at) < utcnow() - FORGET_CONFIRM_WITHIN
            )
        ).all()
        people = [p for p in lapsed if p is not None]
        if people:
            session.execute(
                update(Person).where(col(Person.id).in_(people)).values(forget_requested_at=None)
            )
            matching.request(session, *people)
        return len(people)


def erase(session: Session, person_id: int) -> list[Outbound]:
    """Erase a person and return the deletions of what the bot published about them.

    Kept: the posts they sent, with their author replaced by :data:`FORGOTTEN`, so that none
    is handled twice.
    """
    identities: list[Identity] = Identity.of_person(session, person_id)
    published = session.exec(
        select(OutboundAction).where(
            OutboundAction.person_id == person_id,
            OutboundAction.status == ActionStatus.DONE,
            col(OutboundAction.remote_ref).is_not(None),
            OutboundAction.kind != WriteCollection.kind,  # packs: withdrawn whole below
        )
    )
    deletions = [
        Outbound(
            key=f"{Delete.kind}:{action.idempotency_key}",
            network=action.network,
            action=Delete(str(action.remote_ref)),
        )
        for action in published
    ]
    deletions += packs.withdraw(session, person_id, own=True)
    x_ids = [x.x_account_id for x in XIdentity.of_person(session, person_id)]
    if x_ids:
        session.execute(delete(FollowEdge).where(col(FollowEdge.owner_x_id).in_(x_ids)))
    grants.withdraw_all(session, person_id)  # their servers told, then the tokens forgotten
    subjects = [identity.subject for identity in identities]
    session.execute(
        update(InboundPost).where(col(InboundPost.author).in_(subjects)).values(author=FORGOTTEN)
    )
    session.execute(delete(Person).where(col(Person.id) == person_id))
    return deletions
