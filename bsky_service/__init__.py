"""The Bluesky side of helloquittex: an AT Protocol app and bot (its adapter lives here)."""
