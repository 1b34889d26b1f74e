"""The protocol-independent core of helloquittex: configuration, data model, X archives.

Nothing in this package talks to a network; the Bluesky and Mastodon adapters live in
``bsky_service`` and ``mastodon_bot``.
"""
