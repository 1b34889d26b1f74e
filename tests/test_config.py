"""Settings: read from the environment and .env, every bad value named in one line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from shared.config import DEFAULT_CUTOVER_AT, Reconnection, Settings
from shared.db.engine import sync_url
from shared.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

KEY = "k" * 40


def test_defaults_run_on_a_sqlite_file_in_the_working_folder(tmp_path: Path) -> None:
    settings = Settings.from_env({}, env_file=None)
    assert settings.database_url == f"sqlite:///{tmp_path / 'helloquittex.db'}"
    assert settings.cutover_at == DEFAULT_CUTOVER_AT
    assert not settings.bluesky_configured and not settings.mastodon_configured


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "HQX_PUBLIC_URL=https://hqx.example\nHQX_CUTOVER_AT=2025-01-20T00:00:00+01:00\n"
        f"HQX_SECRET_KEY={KEY}\nOTHER=ignored\n"
    )
    settings = Settings.from_env({"HQX_PUBLIC_URL": "https://override.example/"}, env_file)
    assert settings.public_url == "https://override.example"
    assert settings.secret_key == KEY
    assert settings.cutover_at == datetime(2025, 1, 19, 23, tzinfo=UTC)


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "HQX_DATABASE_URL": "postgresql://hqx:pw@127.0.0.1:5432/hqx",
            "HQX_SECRET_KEY": KEY,
            "HQX_CUTOVER_AT": "2025-01-20",
            "HQX_PUBLIC_URL": "http://127.0.0.1:8080",
            "HQX_BSKY_PDS_URL": "https://bsky.social",
            "HQX_BSKY_HANDLE": "@HelloQuitteX.bsky.social",
            "HQX_BSKY_APP_PASSWORD": "abcd-efgh-ijkl-mnop",
            "HQX_MASTODON_API_BASE_URL": "https://mastodon.social",
            "HQX_MASTODON_ACCESS_TOKEN": "tok-SECRET-123",
            "HQX_ARCHIVE_MAX_BYTES": "1_000_000",
            "HQX_ARCHIVE_MAX_RATIO": "20",
            "HQX_ARCHIVE_MAX_MEMBERS": "10",
            "HQX_REMATCH_HOURS": "6",
            "HQX_RECONNECT_CHECK_SEC": "2.5",
            "HQX_BEHIND_PROXY": "Yes",
            "HQX_LINKS_PER_MINUTE": "5",
            "HQX_BSKY_POLL_SEC": "1.5",
        },
        env_file=None,
    )
    assert settings.bsky_poll_sec == 1.5
    assert settings.behind_proxy is True and settings.links_per_minute == 5
    assert settings.cutover_at == datetime(2025, 1, 20, tzinfo=UTC)
    assert settings.reconnection == Reconnection(datetime(2025, 1, 20, tzinfo=UTC), 6.0, 2.5)
    assert settings.bsky_handle == "helloquittex.bsky.social"
    assert settings.bluesky_configured and settings.mastodon_configured
    assert settings.archive_limits.max_total_bytes == 1_000_000
    assert settings.require_secret_key() == KEY
    shown = settings.redacted()
    assert shown["database_url"] == "postgresql://hqx:***@127.0.0.1:5432/hqx"
    assert shown["bsky_app_password"] == "(set)"
    assert "SECRET" not in repr(shown)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "HQX_CUTOVER_AT",
            "next tuesday",
            "HQX_CUTOVER_AT: 'next tuesday' is not an ISO 8601 date-time",
        ),
        ("HQX_SECRET_KEY", "short", "HQX_SECRET_KEY: must be at least 32 characters, got 5"),
        ("HQX_HTTP_PORT", "70000", "HQX_HTTP_PORT: '70000' is not a TCP port (1-65535)"),
        ("HQX_HTTP_PORT", "web", "HQX_HTTP_PORT: 'web' is not a whole number"),
        ("HQX_MASTODON_POLL_SEC", "0", "HQX_MASTODON_POLL_SEC: '0' must be positive"),
        ("HQX_BSKY_POLL_SEC", "-1", "HQX_BSKY_POLL_SEC: '-1' must be positive"),
        (
            "HQX_BSKY_CHAT_PROXY",
            "api.bsky.chat",
            "HQX_BSKY_CHAT_PROXY: 'api.bsky.chat' is not a service reference (DID#service_id)",
        ),
        ("HQX_X_OEMBED_URL", "publish.twitter.com", "HQX_X_OEMBED_URL: 'publish.twitter.com' is"),
        ("HQX_DATABASE_URL", "mysql://x/y", "HQX_DATABASE_URL: 'mysql://x/y': only sqlite:///PATH"),
        (
            "HQX_DATABASE_URL",
            "sqlite:relative.db",
            "HQX_DATABASE_URL: 'sqlite:relative.db' is not a SQLite URL",
        ),
        ("HQX_PUBLIC_URL", "hqx.example", "HQX_PUBLIC_URL: 'hqx.example' is not an http(s) URL"),
        (
            "HQX_BSKY_HANDLE",
            "not a handle",
            "HQX_BSKY_HANDLE: 'not a handle' is not a Bluesky handle",
        ),
        ("HQX_ARCHIVE_MAX_RATIO", "-3", "HQX_ARCHIVE_MAX_RATIO: '-3' must be positive"),
        ("HQX_REMATCH_HOURS", "0", "HQX_REMATCH_HOURS: '0' must be positive"),
        ("HQX_RECONNECT_CHECK_SEC", "soon", "HQX_RECONNECT_CHECK_SEC: 'soon' is not a"),
        ("HQX_CATCH_UP_MINUTES", "-5", "HQX_CATCH_UP_MINUTES: '-5' must be zero or more"),
        ("HQX_LOG_LEVEL", "loud", "HQX_LOG_LEVEL: 'loud' is not a log level"),
        ("HQX_CATCH_UP_MINUTES", "nan", "HQX_CATCH_UP_MINUTES: 'nan' is not a finite number"),
        ("HQX_ARCHIVE_MAX_BYTES", "lots", "HQX_ARCHIVE_MAX_BYTES: 'lots' is not a whole number"),
        ("HQX_BEHIND_PROXY", "maybe", "HQX_BEHIND_PROXY: 'maybe' is not yes or no"),
        ("HQX_LINKS_PER_MINUTE", "0", "HQX_LINKS_PER_MINUTE: '0' must be positive"),
    ],
)
def test_a_malformed_value_is_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value}, env_file=None)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"HQX_BSKY_HANDLE": "bot.test"}, "HQX_BSKY_APP_PASSWORD"),
        ({"HQX_BSKY_APP_PASSWORD": "pw"}, "HQX_BSKY_HANDLE"),
        ({"HQX_MASTODON_ACCESS_TOKEN": "t"}, "HQX_MASTODON_API_BASE_URL"),
        ({"HQX_MASTODON_API_BASE_URL": "https://m.example"}, "HQX_MASTODON_ACCESS_TOKEN"),
    ],
)
def test_settings_that_go_together_are_required_together(
    given: dict[str, str], missing: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{missing} is required when"):
        Settings.from_env(given, env_file=None)


def test_a_missing_secret_key_is_explained_when_needed() -> None:
    with pytest.raises(ConfigError, match="HQX_SECRET_KEY is not set: generate one with"):
        Settings.from_env({}, env_file=None).require_secret_key()


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("sqlite:////var/lib/hqx.db", "sqlite+pysqlite"),
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+psycopg"),
    ],
)
def test_the_service_picks_the_driver(given: str, driver: str) -> None:
    assert sync_url(given).drivername == driver


def test_bluesky_messages_are_on_by_default_and_off_when_set_empty() -> None:
    assert Settings.from_env({}, env_file=None).bsky_chat_proxy == "did:web:api.bsky.chat#bsky_chat"
    off = Settings.from_env({"HQX_BSKY_CHAT_PROXY": ""}, env_file=None)
    assert off.bsky_chat_proxy is None
    assert off.redacted()["bsky_chat_proxy"] == "(off: no direct messages)"


def test_a_first_start_catches_up_only_when_asked() -> None:
    assert Settings.from_env({}, env_file=None).catch_up == timedelta(0)
    asked = Settings.from_env({"HQX_CATCH_UP_MINUTES": "90"}, env_file=None)
    assert asked.catch_up == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql://hqx:s3cr@t/pw@db.example:5432/hqx", "s3cr@t/pw"),
        ("postgresql://db.example/hqx?user=hqx&password=s3cret&sslmode=require", "s3cret"),
        ("postgresql+psycopg://hqx:p%40ss@db.example/hqx?sslpassword=k3y", "k3y"),
    ],
    ids=["at-and-slash-in-password", "password-parameter", "ssl-key-password"],
)
def test_no_password_or_key_is_ever_shown(url: str, password: str) -> None:
    settings = Settings.from_env(
        {
            "HQX_DATABASE_URL": url,
            "HQX_SECRET_KEY": KEY,
            "HQX_BSKY_HANDLE": "helloquittex.example",
            "HQX_BSKY_APP_PASSWORD": "app-pass-1234",
            "HQX_MASTODON_API_BASE_URL": "https://masto.example",
            "HQX_MASTODON_ACCESS_TOKEN": "masto-token-5678",
            "HQX_OLD_SECRET_KEYS": f"{'o' * 40}, {'p' * 40}",
            "HQX_X_CLIENT_ID": "x-client",
            "HQX_X_CLIENT_SECRET": "x-secret-9012",
        },
        env_file=None,
    )
    assert settings.old_secret_keys == ("o" * 40, "p" * 40)
    secrets = (password, KEY, "o" * 40, "app-pass-1234", "masto-token-5678", "x-secret-9012")
    for shown in (repr(settings), str(settings), str(settings.redacted())):
        for secret in secrets:
            assert secret not in shown
    assert "db.example" in settings.redacted()["database_url"], "the rest still helps"
