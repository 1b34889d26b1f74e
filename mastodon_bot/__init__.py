"""The Mastodon side of helloquittex: a bot on the Mastodon client API (its adapter lives here)."""
