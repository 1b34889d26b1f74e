"""The chat double, reached through the real PDS's proxy, as the bot will reach Bluesky's."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest
from atproto_client.exceptions import BadRequestError

from testworld.bluesky.people import create_person

if TYPE_CHECKING:
    from tests.integration.conftest import RunningChatDouble
    from testworld.bluesky.network import BlueskyDevNetwork
    from testworld.bluesky.people import Person

pytestmark = pytest.mark.integration
_names = (f"c{n}" for n in itertools.count())


def person(bluesky: BlueskyDevNetwork, name: str) -> Person:
    return create_person(bluesky, f"{name}{next(_names)}")


def test_a_message_reaches_someone_who_follows_the_sender(
    bluesky: BlueskyDevNetwork, chat: RunningChatDouble
) -> None:
    bot, reader = person(bluesky, "bot"), person(bluesky, "reader")
    reader.follow(bot)
    bluesky.process_all()
    convo = bot.chat(chat.proxy).convo.get_convo_for_members({"members": [reader.did]}).convo
    sent = bot.chat(chat.proxy).convo.send_message(
        {"convoId": convo.id, "message": {"text": "Bienvenue ! Voici votre lien."}}
    )
    convos = reader.chat(chat.proxy).convo.list_convos().convos
    assert [c.id for c in convos] == [convo.id]
    assert convos[0].unread_count == 1
    assert {m.did for m in convos[0].members} == {bot.did, reader.did}
    messages = reader.chat(chat.proxy).convo.get_messages({"convoId": convo.id}).messages
    assert [(m.id, m.text, m.sender.did) for m in messages] == [
        (sent.id, "Bienvenue ! Voici votre lien.", bot.did)
    ]
    read = reader.chat(chat.proxy).convo.update_read({"convoId": convo.id}).convo
    assert read.unread_count == 0


def test_allow_incoming_is_honoured(bluesky: BlueskyDevNetwork, chat: RunningChatDouble) -> None:
    bot = person(bluesky, "bot")
    stranger, closed, open_ = (person(bluesky, n) for n in ("stranger", "closed", "open"))
    closed.allow_messages_from("none")
    closed.follow(bot)
    open_.allow_messages_from("all")
    bluesky.process_all()
    availability = bot.chat(chat.proxy).convo.get_convo_availability
    assert availability({"members": [open_.did]}).can_chat is True
    assert availability({"members": [stranger.did]}).can_chat is False  # default: following
    assert availability({"members": [closed.did]}).can_chat is False
    with pytest.raises(BadRequestError) as refused:
        bot.chat(chat.proxy).convo.get_convo_for_members({"members": [closed.did]})
    assert refused.value.response.content.error == "MessagesDisabled"


def test_requests_off_the_lexicon_are_refused(
    bluesky: BlueskyDevNetwork, chat: RunningChatDouble
) -> None:
    bot, friend = person(bluesky, "bot"), person(bluesky, "friend")
    friend.allow_messages_from("all")
    bluesky.process_all()
    convo = bot.chat(chat.proxy).convo.get_convo_for_members({"members": [friend.did]}).convo
    with pytest.raises(BadRequestError) as refused:
        bot.chat(chat.proxy).convo.send_message(
            {"convoId": convo.id, "message": {"text": "x" * 1001}}
        )
    assert refused.value.response.content.message == (
        "input/message/text: must have at most 1000 graphemes"
    )
    stranger = person(bluesky, "outsider")
    with pytest.raises(BadRequestError) as refused:
        stranger.chat(chat.proxy).convo.get_messages({"convoId": convo.id})
    assert refused.value.response.content.error == "InvalidConvo"


def test_only_a_valid_service_token_for_this_service_and_method_gets_in(
    bluesky: BlueskyDevNetwork, chat: RunningChatDouble
) -> None:
    import urllib.error
    import urllib.request

    from atproto import models

    caller = person(bluesky, "caller")
    method = "chat.bsky.convo.listConvos"

    def token(aud: str, lxm: str) -> str:
        params = models.ComAtprotoServerGetServiceAuth.Params(aud=aud, lxm=lxm)
        return str(caller.client.com.atproto.server.get_service_auth(params).token)

    def call(authorization: str | None) -> tuple[int, str]:
        request = urllib.request.Request(f"{chat.endpoint}/xrpc/{method}")
        if authorization is not None:
            request.add_header("authorization", authorization)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    assert call(None) == (
        401,
        '{"error": "AuthenticationRequired", "message": "a service token is required"}',
    )
    status, body = call("Bearer not.a.token")
    assert (status, '"InvalidToken"' in body) == (401, True)
    other = "did:plc:" + "a" * 24
    assert call(f"Bearer {token(other, method)}")[1].endswith(
        '"the service token is for another service"}'
    )
    assert call(f"Bearer {token(chat.double.did, 'chat.bsky.convo.sendMessage')}")[1].endswith(
        '"the service token is for another method"}'
    )
    assert call(f"Bearer {token(chat.double.did, method)}") == (200, '{"convos": []}')
