"""Reading X (Twitter) data archives: the zip as X delivers it, or the extracted folder.

Only the owner's account id and username and the follower/following ids are ever kept; the
archive itself, and everything else in ``account.js`` (e-mail, phone, ...), is never stored.
"""

from shared.xarchive.errors import ArchiveError
from shared.xarchive.reader import ArchiveSummary, XAccount, XArchive, read_archive

__all__ = ["ArchiveError", "ArchiveSummary", "XAccount", "XArchive", "read_archive"]
