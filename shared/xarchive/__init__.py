"""Reading X (Twitter) data archives: the zip as X delivers it, or the extracted folder.

Only the owner's account id and username and the follower/following ids are ever kept; the
archive itself, and everything else in ``account.js`` (e-mail, phone, ...), is never stored.
Entry point: :func:`shared.xarchive.reader.read_archive`.

This package imports nothing itself: parser worker processes load only what they use.
"""
