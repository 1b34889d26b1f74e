"""Typed settings, read once from the environment and an optional ``.env`` file.

Every variable is prefixed ``HQX_`` and documented in ``.env.example``. The environment wins
over ``.env`` so that a deployment can override a file checked into a server.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

from shared.errors import ConfigError
from shared.outbound import Policy, allow_entry
from shared.vocabulary import Role

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

T = TypeVar("T")

PREFIX = "HQX_"
DEFAULT_DATABASE_FILE = "helloquittex.db"
# The original HelloQuitteX campaign's cutover: 20 January 2025, Paris time.
DEFAULT_CUTOVER_AT = datetime.fromisoformat("2025-01-20T00:00:00+01:00")
MIN_SECRET_KEY_CHARS = 32
# Real X archives compress about 5-10x; zlib's ceiling is about 1,030x.
DEFAULT_ARCHIVE_MAX_RATIO = 100.0
DEFAULT_ARCHIVE_MAX_BYTES = 16 * 1024**3
DEFAULT_ARCHIVE_MAX_MEMBERS = 500_000
# An upload is the whole zip X sends, media included; over this, people send a zip of its
# data/account.js and data/follower*.js, data/following*.js (the refusal says so).
DEFAULT_UPLOAD_MAX_BYTES = 2 * 1024**3
DEFAULT_IMPORT_CONCURRENCY = 2
DEFAULT_UPLOAD_READ_TIMEOUT_SEC = 30.0
DEFAULT_UPLOAD_MIN_BYTES_PER_SEC = 16 * 1024
DEFAULT_UPLOADS_WAITING = 64
DEFAULT_BSKY_PLC_URL = "https://plc.directory"
DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 8080
DEFAULT_MASTODON_POLL_SEC = 10.0
DEFAULT_BSKY_POLL_SEC = 0.5
"""Bluesky has no stream of a bot's notifications: it reads them (and its messages) this
often, about 1,200 of the 3,000 requests per 5 minutes Bluesky's PDS allows an address."""
# Bluesky's chat service, as the app reaches it: the PDS proxies to this DID's service.
DEFAULT_BSKY_CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
DEFAULT_X_AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
DEFAULT_X_API_URL = "https://api.x.com"

_HANDLE_RE = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Bounds that an X archive must stay within before anything of it is read."""

    max_total_bytes: int = DEFAULT_ARCHIVE_MAX_BYTES
    """Sum of the decompressed sizes of the files the reader reads."""
    max_ratio: float = DEFAULT_ARCHIVE_MAX_RATIO
    """Largest decompressed/compressed ratio of one zip member (zip bombs)."""
    max_members: int = DEFAULT_ARCHIVE_MAX_MEMBERS
    """Most entries a zip (or files a folder) may hold."""
    max_processes: int = 0
    """Most worker processes to parse one large file with (0: every usable CPU)."""


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """How the portal takes archives: body size and pace, and how many imports at once."""

    max_bytes: int = DEFAULT_UPLOAD_MAX_BYTES
    """The largest request body (the zip), separate from what an archive may hold."""
    import_concurrency: int = DEFAULT_IMPORT_CONCURRENCY
    """Imports run at once, on their own threads; more uploads wait their turn."""
    read_timeout_sec: float = DEFAULT_UPLOAD_READ_TIMEOUT_SEC
    """The longest wait for the next piece of a body."""
    min_bytes_per_sec: int = DEFAULT_UPLOAD_MIN_BYTES_PER_SEC
    """The slowest a body may come, on average, once it has had the read timeout to start."""
    max_waiting: int = DEFAULT_UPLOADS_WAITING
    """Archives read and kept on disk at once until their people confirm the import (30
    minutes at most, one per link); more uploads are refused until some are confirmed."""
    folder: Path | None = None
    """Where uploads wait for their import, one folder each (shared by the web and work
    processes; what a crash leaves is swept);
    ``None``: a folder of the system's temporary folder, named for the database."""


@dataclass(frozen=True, slots=True)
class Reconnection:
    """When contacts are delivered: the first full delivery at the cutover, then everything
    matched again on a schedule; in between, what new people bring, checked this often."""

    cutover_at: datetime = DEFAULT_CUTOVER_AT
    rematch_hours: float = 24.0
    """``HQX_REMATCH_HOURS``: a full re-match this often after the cutover."""
    check_sec: float = 60.0
    """``HQX_RECONNECT_CHECK_SEC``: how often the cutover and new matches are looked for."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service is configured with. Build it with :meth:`from_env`."""

    database_url: str
    cutover_at: datetime = DEFAULT_CUTOVER_AT
    secret_key: str | None = field(default=None, repr=False)
    old_secret_keys: tuple[str, ...] = field(default=(), repr=False)
    """Keys rotated out: still verify the link codes they signed (``HQX_OLD_SECRET_KEYS``,
    comma-separated), until those expire (24 h)."""
    public_url: str | None = None
    http_host: str = DEFAULT_HTTP_HOST
    http_port: int = DEFAULT_HTTP_PORT
    bsky_pds_url: str | None = None
    bsky_handle: str | None = None
    bsky_app_password: str | None = field(default=None, repr=False)
    bsky_chat_proxy: str | None = DEFAULT_BSKY_CHAT_PROXY
    bsky_poll_sec: float = DEFAULT_BSKY_POLL_SEC
    bsky_plc_url: str = DEFAULT_BSKY_PLC_URL
    """Where ``did:plc`` documents are read (a person's PDS, for follows on their behalf)."""
    """The chat service for Bluesky direct messages; ``None`` (set empty): messages off."""
    log_level: str = "INFO"
    log_format: str = "text"
    """``HQX_LOG_FORMAT``: ``text`` (a line a record) or ``json`` (a JSON object a line);
    either way without handles, DIDs, addresses of accounts, X ids or tokens."""
    """How much ``hqx run`` logs: DEBUG, INFO, WARNING or ERROR."""
    catch_up_minutes: float = 0.0
    """On a first start (a database that has never seen the bots' accounts), also answer
    the posts this many minutes old; by default only posts made after the start."""
    mastodon_api_base_url: str | None = None
    mastodon_access_token: str | None = field(default=None, repr=False)
    mastodon_poll_sec: float = DEFAULT_MASTODON_POLL_SEC
    x_oembed_url: str | None = None
    x_client_id: str | None = None
    """The operator's X app (OAuth 2.0 client id) for "Sign in with X"; unset: not offered."""
    x_client_secret: str | None = field(default=None, repr=False)
    """Set for a confidential X app (HTTP Basic at X's token endpoint)."""
    x_authorize_url: str = DEFAULT_X_AUTHORIZE_URL
    x_api_url: str = DEFAULT_X_API_URL
    """X's public oEmbed endpoint, to prove X accounts by a post; unset: not offered."""
    archive_limits: ArchiveLimits = ArchiveLimits()
    upload_limits: UploadLimits = UploadLimits()
    rematch_hours: float = 24.0
    reconnect_check_sec: float = 60.0
    behind_proxy: bool = False
    """The portal is served behind a reverse proxy that appends the client's address to
    ``X-Forwarded-For`` (``HQX_BEHIND_PROXY=yes``): paced per that address, not the proxy's."""
    links_per_minute: int = 20
    """Requests a client address may make a minute to the portal's one-time links."""
    wait_for_lease: bool = False
    """``hqx run --wait``: while another service holds the database, wait for it instead of
    refusing to start (a standby, or a supervisor's restart after a takeover)."""
    roles: frozenset[Role] = frozenset(Role)
    """``hqx run --role``: what this process does (all of them: the all-in-one service);
    fewer only on PostgreSQL, where several processes share the database."""
    outbound_allow: tuple[str, ...] = ()
    """``HQX_OUTBOUND_ALLOW``: hosts (``host`` or ``host:port``, comma-separated) the service
    may reach over plain http or on a private or loopback address when someone else names
    them (a person's server, a DID document's PDS): empty by default; the local test world
    and the sandbox list theirs. See :mod:`shared.outbound`."""

    def outbound_policy(self) -> Policy:
        """Where the service may go on someone else's word: the allow-list, and the servers
        the operator configured (the bots' own, the PLC directory)."""
        return Policy.of(
            self.outbound_allow,
            (self.bsky_pds_url, self.bsky_plc_url, self.mastodon_api_base_url),
        )

    @property
    def reconnection(self) -> Reconnection:
        """When contacts are delivered."""
        return Reconnection(self.cutover_at, self.rematch_hours, self.reconnect_check_sec)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: Path | None = Path(".env"),
    ) -> Settings:
        """Read the settings; raise :class:`ConfigError` naming the first bad variable."""
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        env = {k: v.strip() for k, v in values.items() if k.startswith(PREFIX)}
        get = _Reader(env)
        chat_default: str | None = DEFAULT_BSKY_CHAT_PROXY
        settings = cls(
            database_url=get("DATABASE_URL", _database_url, _default_database_url()),
            cutover_at=get("CUTOVER_AT", _datetime, DEFAULT_CUTOVER_AT),
            secret_key=get("SECRET_KEY", _secret_key, None),
            old_secret_keys=get("OLD_SECRET_KEYS", _secret_keys, ()),
            public_url=get("PUBLIC_URL", _http_url, None),
            http_host=get("HTTP_HOST", str, DEFAULT_HTTP_HOST),
            http_port=get("HTTP_PORT", _port, DEFAULT_HTTP_PORT),
            bsky_pds_url=get("BSKY_PDS_URL", _http_url, None),
            bsky_plc_url=get("BSKY_PLC_URL", _http_url, DEFAULT_BSKY_PLC_URL),
            bsky_handle=get("BSKY_HANDLE", _handle, None),
            bsky_app_password=get("BSKY_APP_PASSWORD", str, None),
            bsky_chat_proxy=None
            if get.set_empty("BSKY_CHAT_PROXY")
            else get("BSKY_CHAT_PROXY", _service_proxy, chat_default),
            bsky_poll_sec=get("BSKY_POLL_SEC", _positive_float, DEFAULT_BSKY_POLL_SEC),
            catch_up_minutes=get("CATCH_UP_MINUTES", _non_negative_float, 0.0),
            rematch_hours=get("REMATCH_HOURS", _positive_float, 24.0),
            reconnect_check_sec=get("RECONNECT_CHECK_SEC", _positive_float, 60.0),
            behind_proxy=get("BEHIND_PROXY", _yes_no, False),
            links_per_minute=get("LINKS_PER_MINUTE", _positive_int, 20),
            outbound_allow=get("OUTBOUND_ALLOW", _hosts, ()),
            log_level=get("LOG_LEVEL", _log_level, "INFO"),
            log_format=get("LOG_FORMAT", _log_format, "text"),
            mastodon_api_base_url=get("MASTODON_API_BASE_URL", _http_url, None),
            mastodon_access_token=get("MASTODON_ACCESS_TOKEN", str, None),
            mastodon_poll_sec=get("MASTODON_POLL_SEC", _positive_float, DEFAULT_MASTODON_POLL_SEC),
            x_oembed_url=get("X_OEMBED_URL", _http_url, None),
            x_client_id=get("X_CLIENT_ID", str, None),
            x_client_secret=get("X_CLIENT_SECRET", str, None),
            x_authorize_url=get("X_AUTHORIZE_URL", _http_url, DEFAULT_X_AUTHORIZE_URL),
            x_api_url=get("X_API_URL", _http_url, DEFAULT_X_API_URL),
            archive_limits=_archive_limits(get),
            upload_limits=_upload_limits(get),
        )
        settings._check_pairs()
        return settings

    def _check_pairs(self) -> None:
        """Settings that only make sense together must be given together."""
        pairs = (
            ("BSKY_HANDLE", self.bsky_handle, "BSKY_APP_PASSWORD", self.bsky_app_password),
            ("BSKY_APP_PASSWORD", self.bsky_app_password, "BSKY_HANDLE", self.bsky_handle),
            (
                "MASTODON_ACCESS_TOKEN",
                self.mastodon_access_token,
                "MASTODON_API_BASE_URL",
                self.mastodon_api_base_url,
            ),
            (
                "MASTODON_API_BASE_URL",
                self.mastodon_api_base_url,
                "MASTODON_ACCESS_TOKEN",
                self.mastodon_access_token,
            ),
        )
        for given_name, given, needed_name, needed in pairs:
            if given is not None and needed is None:
                raise ConfigError(
                    f"{PREFIX}{needed_name} is required when {PREFIX}{given_name} is set"
                )

    @property
    def bluesky_configured(self) -> bool:
        """Whether the Bluesky bot has an account to run as."""
        return self.bsky_handle is not None

    @property
    def catch_up(self) -> timedelta:
        """:attr:`catch_up_minutes` as a duration."""
        return timedelta(minutes=self.catch_up_minutes)

    @property
    def mastodon_configured(self) -> bool:
        """Whether the Mastodon bot has an account to run as."""
        return self.mastodon_access_token is not None

    @property
    def message_networks(self) -> tuple[str, ...]:
        """The networks whose bot can message people privately, preferred first."""
        networks = []
        if self.mastodon_configured:
            networks.append("mastodon")
        if self.bluesky_configured and self.bsky_chat_proxy is not None:
            networks.append("bluesky")
        return tuple(networks)

    def require_secret_key(self) -> str:
        """The secret key, for commands that sign or verify; a clear error when unset."""
        if self.secret_key is None:
            raise ConfigError(
                f"{PREFIX}SECRET_KEY is not set: generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return self.secret_key

    def __repr__(self) -> str:  # never the secrets, wherever settings get printed
        shown = ", ".join(f"{name}={value!r}" for name, value in self.redacted().items())
        return f"Settings({shown})"

    def redacted(self) -> dict[str, str]:
        """The effective settings as text, secrets masked, for `hqx config check`."""
        secret = {
            "secret_key",
            "old_secret_keys",
            "bsky_app_password",
            "mastodon_access_token",
            "x_client_secret",
        }
        shown: dict[str, str] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name in secret and value:
                shown[name] = "(set)"
            elif name in secret:
                shown[name] = "(unset)"
            elif name == "database_url":
                shown[name] = _mask_password(value)
            elif name == "bsky_chat_proxy" and value is None:
                shown[name] = "(off: no direct messages)"
            else:
                shown[name] = "(unset)" if value is None else str(value)
        return shown


class _Reader:
    """Reads one variable, converting it and naming it in any error."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def set_empty(self, name: str) -> bool:
        """Whether the variable is given, empty (for settings where that means "off")."""
        return self._env.get(PREFIX + name) == ""

    def __call__(self, name: str, convert: Callable[[str], T], default: T) -> T:
        raw = self._env.get(PREFIX + name)
        if not raw:  # unset, or set empty
            return default
        try:
            return convert(raw)
        except ValueError as e:
            raise ConfigError(f"{PREFIX}{name}: {e}") from None


def _archive_limits(get: _Reader) -> ArchiveLimits:
    return ArchiveLimits(
        max_total_bytes=get("ARCHIVE_MAX_BYTES", _positive_int, DEFAULT_ARCHIVE_MAX_BYTES),
        max_ratio=get("ARCHIVE_MAX_RATIO", _positive_float, DEFAULT_ARCHIVE_MAX_RATIO),
        max_members=get("ARCHIVE_MAX_MEMBERS", _positive_int, DEFAULT_ARCHIVE_MAX_MEMBERS),
    )


def _upload_limits(get: _Reader) -> UploadLimits:
    return UploadLimits(
        max_bytes=get("UPLOAD_MAX_BYTES", _positive_int, DEFAULT_UPLOAD_MAX_BYTES),
        import_concurrency=get("IMPORT_CONCURRENCY", _positive_int, DEFAULT_IMPORT_CONCURRENCY),
        read_timeout_sec=get(
            "UPLOAD_READ_TIMEOUT_SEC", _positive_float, DEFAULT_UPLOAD_READ_TIMEOUT_SEC
        ),
        min_bytes_per_sec=get(
            "UPLOAD_MIN_BYTES_PER_SEC", _positive_int, DEFAULT_UPLOAD_MIN_BYTES_PER_SEC
        ),
        max_waiting=get("UPLOADS_WAITING", _positive_int, DEFAULT_UPLOADS_WAITING),
        folder=get("UPLOAD_DIR", Path, None),
    )


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / DEFAULT_DATABASE_FILE}"


def _database_url(raw: str) -> str:
    scheme = raw.split(":", 1)[0].lower()
    base = scheme.split("+", 1)[0]
    if base == "sqlite":
        if not raw.lower().startswith("sqlite:///") and raw.lower() != "sqlite://":
            raise ValueError(f"{raw!r} is not a SQLite URL; write sqlite:///PATH")
        return raw
    if base in ("postgresql", "postgres"):
        if not urlsplit(raw).hostname and "host=" not in raw:
            raise ValueError(f"{_mask_password(raw)!r} names no host")
        return raw
    raise ValueError(
        f"{_mask_password(raw)!r}: only sqlite:///PATH and postgresql:// are supported"
    )


def _datetime(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"{raw!r} is not an ISO 8601 date-time (e.g. 2025-01-20T00:00:00+01:00)"
        ) from None
    # A date-time without an offset is read as UTC rather than the server's local time.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _secret_key(raw: str) -> str:
    if len(raw) < MIN_SECRET_KEY_CHARS:
        raise ValueError(f"must be at least {MIN_SECRET_KEY_CHARS} characters, got {len(raw)}")
    return raw


def _secret_keys(raw: str) -> tuple[str, ...]:
    return tuple(_secret_key(key.strip()) for key in raw.split(",") if key.strip())


def _http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{raw!r} is not an http(s) URL")
    return raw.rstrip("/")


def _handle(raw: str) -> str:
    handle = raw.removeprefix("@").lower()
    if not _HANDLE_RE.match(handle):
        raise ValueError(f"{raw!r} is not a Bluesky handle (e.g. helloquittex.bsky.social)")
    return handle


def _positive_int(raw: str) -> int:
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ValueError(f"{raw!r} is not a whole number") from None
    if value <= 0:
        raise ValueError(f"{raw!r} must be positive")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _yes_no(raw: str) -> bool:
    folded = raw.casefold()
    if folded in ("yes", "true", "1", "on"):
        return True
    if folded in ("no", "false", "0", "off"):
        return False
    raise ValueError(f"{raw!r} is not yes or no")


LOG_FORMATS = ("text", "json")


def _log_format(raw: str) -> str:
    if raw.lower() not in LOG_FORMATS:
        raise ValueError(f"{raw!r} is not a log format ({', '.join(LOG_FORMATS)})")
    return raw.lower()


def _log_level(raw: str) -> str:
    if raw.upper() not in LOG_LEVELS:
        raise ValueError(f"{raw!r} is not a log level ({', '.join(LOG_LEVELS)})")
    return raw.upper()


def _service_proxy(raw: str) -> str:
    did, _, service = raw.partition("#")
    if not did.startswith("did:") or not service:
        raise ValueError(f"{raw!r} is not a service reference (DID#service_id)")
    return raw


def _hosts(raw: str) -> tuple[str, ...]:
    """``host`` or ``host:port`` entries, comma-separated (``[::1]:8080`` for IPv6)."""
    found = []
    for entry in (e.strip().lower() for e in raw.split(",")):
        if not entry:
            continue
        if allow_entry(entry) is None:
            raise ValueError(f"{entry!r} is not host or host:port (port 1 to 65535)")
        found.append(entry)
    return tuple(found)


def _port(raw: str) -> int:
    value = _positive_int(raw)
    if value > 65535:
        raise ValueError(f"{raw!r} is not a TCP port (1-65535)")
    return value


def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):  # NaN, infinities
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def _non_negative_float(raw: str) -> float:
    value = _number(raw)
    if value < 0:
        raise ValueError(f"{raw!r} must be zero or more")
    return value


def _positive_float(raw: str) -> float:
    value = _number(raw)
    if not value > 0:
        raise ValueError(f"{raw!r} must be positive")
    return value


def _mask_password(url: str) -> str:
    """``url`` with every password in it masked: in the user part (which ends at the last
    ``@``, since passwords hold ``@`` too) and in ``password=`` parameters."""
    scheme, sep, rest = url.partition("://")
    if sep:
        at = rest.rfind("@")
        user, colon, _ = rest[: max(at, 0)].partition(":")
        if at >= 0 and colon:
            rest = f"{user}:***{rest[at:]}"
        url = scheme + sep + rest
    return re.sub(r"((?:^|[?&\s])(?:ssl)?password=)[^&\s]*", r"\1***", url, flags=re.IGNORECASE)
