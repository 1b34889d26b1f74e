"""The composition root: the one place that wires the core (:mod:`shared`) to the network
adapters (:mod:`bsky_service`, :mod:`mastodon_bot`) and to X's oEmbed reader. It holds the
``hqx`` command (:mod:`.cli`), the running service with its web portal (:mod:`.app`)."""
