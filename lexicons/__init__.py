"""The AT Protocol lexicons helloquittex defines (``org.helloquittex.*``), one JSON document
per NSID: package data, so that an installed service validates its XRPC methods at run time
against the same documents (:func:`bsky_service.lexicon.ours`)."""
