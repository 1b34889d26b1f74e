"""The local test world, not product code: Bluesky's own network and a chat double
(:mod:`.bluesky`), the Mastodon-API test server with the responses recorded from a real
Mastodon (:mod:`.mastodon`), and the sandbox's story (:mod:`.sandbox`). Installed with the
``sandbox`` extra; the product never imports it (``hqx sandbox`` loads it on demand)."""
