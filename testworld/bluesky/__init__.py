"""A real AT Protocol network on loopback: Bluesky's own PLC, PDS and AppView.

They come from the npm package ``@atproto/dev-env`` (the code Bluesky's own tests run), which
:mod:`.install` installs into a cache folder with the Node 22 it needs, and :mod:`.network`
starts beside a private PostgreSQL and Redis (:mod:`.services`). For tests and the sandbox.
"""
