"""Where the Mastodon bot looks for the user stream, best first."""

from __future__ import annotations

from mastodon_bot.stream import Endpoint, endpoints


def test_websocket_at_the_advertised_address_first_then_the_apis_own() -> None:
    # GoToSocial advertises wss:// even where only plain http is served.
    assert endpoints("wss://social.test", "http://social.test") == [
        Endpoint("websocket", "wss://social.test/api/v1/streaming?stream=user"),
        Endpoint("websocket", "ws://social.test/api/v1/streaming?stream=user"),
        Endpoint("sse", "https://social.test/api/v1/streaming/user"),
        Endpoint("sse", "http://social.test/api/v1/streaming/user"),
    ]


def test_a_separate_streaming_host_and_never_a_downgrade_from_https() -> None:
    assert endpoints("ws://streaming.social.test/", "https://social.test") == [
        Endpoint("websocket", "wss://streaming.social.test/api/v1/streaming?stream=user"),
        Endpoint("websocket", "wss://social.test/api/v1/streaming?stream=user"),
        Endpoint("sse", "https://streaming.social.test/api/v1/streaming/user"),
        Endpoint("sse", "https://social.test/api/v1/streaming/user"),
    ]


def test_nothing_advertised_means_the_apis_own_address() -> None:
    assert endpoints(None, "https://social.test") == [
        Endpoint("websocket", "wss://social.test/api/v1/streaming?stream=user"),
        Endpoint("sse", "https://social.test/api/v1/streaming/user"),
    ]
