"""A Mastodon-API server for tests and the sandbox, and the proof of its fidelity: the
responses recorded from a real Mastodon in Mastodon.py's source distribution (:mod:`.reference`).
"""
