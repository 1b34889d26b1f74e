"""The service's commands: help, link, the proof a posted code makes, status."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC
from typing import TYPE_CHECKING

from shared import actions
from shared.actions import Reply
from shared.bot import privacy
from shared.bot.commands import (
    PROOF,
    X_PROOF,
    Answer,
    CommandRegistry,
    Context,
    Environment,
    Outbound,
    help_text,
)
from shared.bot.messages import Lang, say
from shared.db.models import Identity
from shared.errors import HqxError
from shared.identity import attestation, challenge, linking
from shared.identity.addresses import Named, mention, parse_account
from shared.identity.challenge import Binding, ChallengeError
from shared.outbox import reply_to
from shared.portal import uploads
from shared.vocabulary import Network, TrustLevel

if TYPE_CHECKING:
    from shared.bot.commands import Resolver
    from shared.db.models import XIdentity
    from shared.identity.accounts import Account, ShownAccount, XPost
    from shared.protocol import IncomingPost


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What the ``link`` command found: ``problem`` names what went wrong, if anything."""

    problem: str | None
    text: str = ""
    named: Named | None = None
    account: Account | None = None
    x_enabled: bool = False
    """The service reads posts on X (to prove X accounts)."""


async def find_link_target(
    post: IncomingPost, args: tuple[str, ...], resolver: Resolver
) -> LinkTarget:
    """The account a link request names, found on its network (outside any transaction)."""
    if not args:
        return LinkTarget("link.missing")
    named = parse_account(args[0])
    if named is None:
        return LinkTarget("link.unreadable", text=args[0])
    if named.network == Network.X:
        return LinkTarget("x", named=named, x_enabled=resolver.reads_x())
    if named.network == post.network:
        return LinkTarget("link.same_network", named=named)
    if named.network not in resolver.networks():
        return LinkTarget("link.no_bot", named=named)
    try:
        account = await resolver.resolve(named.network, named.handle)
    except HqxError:  # the other network is down: say so, rather than retry this post forever
        return LinkTarget("link.unreachable", named=named)
    if account is None:
        return LinkTarget("link.not_found", named=named)
    return LinkTarget(None, named=named, account=account)


def network_name(network: Network, lang: Lang) -> str:
    return say(f"network.{network}", lang)


def shown(identity: Identity, lang: Lang) -> str:
    """An identity as people read it: the handle and its network."""
    return f"{mention(identity.handle)} ({network_name(identity.network, lang)})"


def link(context: Context[LinkTarget]) -> Answer | str:
    target = context.prepared
    lang = context.lang
    if target.problem == "x":
        return upload_link(context)
    if target.problem is not None:
        handle = mention(target.named.handle) if target.named else ""
        network = network_name(target.named.network, lang) if target.named else ""
        return say(target.problem, lang, text=target.text, handle=handle, network=network)
    assert target.account is not None  # noqa: S101  (found)
    if context.env.secret_key is None:
        return say("link.closed", lang)
    requester = linking.identity_of(context.session, context.post.network, context.post.author)
    known = Identity.find(context.session, target.account.network, target.account.subject)
    if known is not None and known.person_id == requester.person_id:
        return say("link.already", lang, handle=mention(target.account.handle))
    code = linking.request_link(
        context.session,
        key=context.env.secret_key,
        requester=requester,
        target=target.account,
        reply=actions.encode(reply_to(context.post, "", lang)),
        now=context.env.now,
    )
    bot = context.env.bot_handles[target.account.network]
    ready = say(
        "link.to_post",
        lang,
        bot=mention(bot),
        asker=requester.handle,
        network=network_name(requester.network, lang),
        code=code,
    )
    text = say("link.challenge", lang, handle=mention(target.account.handle), ready=ready)
    return Answer(text, lang, person_id=requester.person_id)


def upload_link(context: Context[LinkTarget]) -> Answer | str:
    """A one-time link to upload an X archive, for the person the network vouches for; it
    goes privately (a public thread gets a note that it was sent). Once an X account is
    claimed, and where the service reads X, a code to prove it by a post on X instead."""
    lang, post = context.lang, context.post
    requester = linking.identity_of(context.session, post.network, post.author)
    claimed = linking.x_account(context.session, requester.person_id)
    if claimed is not None and context.prepared.x_enabled:
        return x_challenge(context, requester, claimed)
    if context.env.public_url is None:
        return say("link.x_closed", lang)
    token = uploads.issue(context.session, requester.person_id, now=context.env.now)
    text = say("link.x_link", lang, url=uploads.link(context.env.public_url, token))
    return privately(context, requester, text, sent=say("link.x_sent", lang), kind="upload-link")


def privately(
    context: Context[object], requester: Identity, text: str, *, sent: str, kind: str
) -> Answer:
    """``text`` for the requester alone: the answer itself when they wrote privately, else
    a private message and, in the public thread, ``sent`` (a link must never be public)."""
    post, lang = context.post, context.lang
    if post.direct:
        return Answer(text, lang, person_id=requester.person_id)
    private = Outbound(
        key=f"{kind}:{post.network}:{post.post_id}",
        network=post.network,
        action=replace(reply_to(post, text, lang), direct=True),
        person_id=requester.person_id,
    )
    return Answer(sent, lang, (private,), person_id=requester.person_id)


def space_link(context: Context[None]) -> Answer | str:
    """A one-time sign-in link to the person's own space on the portal (15 minutes), sent
    privately."""
    lang = context.lang
    if context.env.public_url is None:
        return say("space.closed", lang)
    requester = linking.identity_of(context.session, context.post.network, context.post.author)
    token = uploads.issue(
        context.session, requester.person_id, now=context.env.now, purpose=uploads.SPACE
    )
    url = uploads.link(context.env.public_url, token, uploads.SPACE_PATH)
    text = say("space.link", lang, url=url)
    return privately(context, requester, text, sent=say("space.sent", lang), kind="space-link")


def x_challenge(context: Context[object], requester: Identity, x: XIdentity) -> Answer | str:
    lang = context.lang
    if x.username_proven_at is not None or x.trust == TrustLevel.VERIFIED:
        return say("x.already", lang, username=x.username)
    if context.env.secret_key is None:
        return say("link.closed", lang)
    assert requester.id is not None  # noqa: S101  (stored)
    binding = Binding(requester.id, requester.subject, Network.X, str(x.x_account_id))
    code = challenge.issue(context.env.secret_key, binding, now=context.env.now)
    return Answer(say("x.challenge", lang, username=x.username, code=code), lang)


async def read_x_post(
    post: IncomingPost, args: tuple[str, ...], resolver: Resolver
) -> XPost | str | None:
    """The post on X a message links to, read through X's oEmbed (outside any transaction)."""
    return await resolver.x_post(args[0])


def x_proof(context: Context[XPost | str | None]) -> Answer | str:
    lang, session, post = context.lang, context.session, context.post
    read = context.prepared
    if read is None:
        return say("x.closed", lang)
    if isinstance(read, str):
        return say("x.unreadable", lang, reason=read)
    if context.env.secret_key is None:
        return say("link.closed", lang)
    sender = linking.identity_of(session, post.network, post.author)
    try:
        x = linking.prove_x(
            session,
            key=context.env.secret_key,
            sender=sender,
            post=read,
            now=context.env.now,
            old_keys=context.env.old_keys,
        )
    except ChallengeError as e:
        key = f"x.{e.reason}" if e.reason in ("no_code", "not_yours") else f"proof.{e.reason}"
        return say(key, lang, author=read.author)
    also = attestation.publish(
        session, sender.person_id, trigger=f"{post.network}:{post.post_id}", env=context.env
    )
    return Answer(say("x.proven", lang, username=x.username), lang, tuple(also), sender.person_id)


def proof(context: Context[None]) -> Answer | str:
    lang = context.lang
    if context.post.edited:
        return say("proof.edited", lang)
    if context.env.secret_key is None:
        return say("link.closed", lang)
    try:
        linked = linking.prove(
            context.session,
            key=context.env.secret_key,
            post=context.post,
            code_text=context.args[0],
            now=context.env.now,
            old_keys=context.env.old_keys,
        )
    except ChallengeError as e:
        return say(f"proof.{e.reason}", lang)
    first, second = linked.requester, linked.target
    text = say("proof.linked", lang, first=shown(first, lang), second=shown(second, lang))
    text = f"{text} {what_next(second.network, lang, context.env)}".rstrip()
    if linked.left_apart:  # the poster's other accounts stay theirs until they say so
        others = ", ".join(shown_account(account, lang) for account in linked.left_apart)
        text = say("proof.left_apart", lang, first=shown(first, lang), others=others)
    also: list[Outbound] = []
    if linked.request is not None:  # confirm in the request's thread, in its language
        request = linked.request
        asked = actions.decode(Reply.kind, request.reply)
        assert isinstance(asked, Reply)  # noqa: S101  (stored as one)
        request_lang = Lang(asked.lang)
        confirmation = say(
            "proof.linked",
            request_lang,
            first=shown(first, request_lang),
            second=shown(second, request_lang),
        )
        confirmation = f"{confirmation} {what_next(first.network, request_lang, context.env)}"
        confirmation = confirmation.rstrip()
        also.append(
            Outbound(
                key=f"confirm:{request.code}",
                network=first.network,
                action=replace(asked, text=confirmation),
                person_id=first.person_id,
            )
        )
    also += attestation.publish(
        context.session,
        first.person_id,
        trigger=f"{context.post.network}:{context.post.post_id}",
        env=context.env,
    )
    return Answer(text, lang, tuple(also), person_id=first.person_id)


def what_next(network: Network, lang: Lang, env: Environment) -> str:
    """What a person will get on ``network``, and when: said when an account is linked."""
    if env.reconnect_at is None:
        return ""
    when = "before" if env.now < env.reconnect_at else "after"
    date = env.reconnect_at.astimezone(UTC).date().isoformat()
    return say(f"next.{when}.{network}", lang, date=date)


def shown_account(account: ShownAccount, lang: Lang) -> str:
    """An account as people read it: its handle, its network, how it is known."""
    return say(
        "status.account",
        lang,
        handle=mention(account.handle),
        network=network_name(account.network, lang),
        trust=say(f"trust.{account.standing}", lang),
    )


def status(context: Context[None]) -> str:
    lang, post, session = context.lang, context.post, context.session
    me = Identity.find(session, post.network, post.author.subject)
    accounts = [] if me is None else linking.accounts_of(session, me.person_id)
    if len(accounts) < 2:
        return say("status.alone", lang, handle=mention(post.author.handle))
    shown_accounts = ", ".join(shown_account(account, lang) for account in accounts)
    return say("status.linked", lang, accounts=shown_accounts)


def join(context: Context[None]) -> Answer | str:
    """Join the accounts a proof left apart, on the word of one of them."""
    lang, post, session = context.lang, context.post, context.session
    me = Identity.find(session, post.network, post.author.subject)
    joined = None if me is None else linking.join(session, me, now=context.env.now)
    if joined is None:
        return say("join.nothing", lang)
    accounts = ", ".join(
        shown_account(account, lang) for account in linking.accounts_of(session, joined)
    )
    return Answer(say("join.done", lang, accounts=accounts), lang, person_id=joined)


def unlink(context: Context[None]) -> Answer | str:
    """Remove one of the person's accounts; the attestation follows (rewritten or withdrawn)."""
    lang, post, session = context.lang, context.post, context.session
    named = parse_account(context.args[0]) if context.args else None
    if named is None:
        return say("unlink.missing", lang)
    handle = mention(named.handle) if named.network != Network.X else "X"
    me = Identity.find(session, post.network, post.author.subject)
    if me is None:
        return say("unlink.unknown", lang, handle=handle)
    if named.network == post.network and named.handle.casefold() == me.handle.casefold():
        return say("unlink.self", lang)
    if not linking.unlink(session, me.person_id, named.network, named.handle):
        return say("unlink.unknown", lang, handle=handle)
    trigger = f"{post.network}:{post.post_id}"
    also = attestation.refresh(session, me.person_id, trigger=trigger, env=context.env)
    return Answer(say("unlink.done", lang, handle=handle), lang, tuple(also), me.person_id)


def default_registry() -> CommandRegistry:
    """The commands of the service."""
    registry = CommandRegistry()
    # Greetings are asking who the bot is: they get the help, not "I didn't understand".
    registry.register(
        "help", fr=("aide", "bonjour", "salut", "coucou"), en=("help", "hello", "hi", "hey")
    )(lambda context: help_text(context.lang, context.registry))
    registry.register("link", fr=("lier", "relier"), en=("link",), prepare=find_link_target)(link)
    registry.register("unlink", fr=("délier",), en=("unlink",))(unlink)
    registry.register("status", fr=("statut", "état"), en=("status",))(status)
    registry.register("space", fr=("espace", "portail"), en=("space", "portal"))(space_link)
    registry.register("join", fr=("réunir", "joindre"), en=("join",), listed=False)(join)
    registry.register("settings", fr=("réglages", "réglage", "paramètres"), en=("settings",))(
        privacy.settings
    )
    registry.register("stop", fr=("stop", "arrêt", "arrêter"), en=("stop", "unsubscribe"))(
        privacy.stop
    )
    registry.register("forget", fr=("oublier", "oubliez", "oublie"), en=("forget",))(privacy.forget)
    registry.register(PROOF, fr=(), en=(), listed=False)(proof)
    registry.register(X_PROOF, fr=(), en=(), listed=False, prepare=read_x_post)(x_proof)
    return registry
