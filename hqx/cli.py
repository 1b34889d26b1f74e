"""The ``hqx`` command: what an operator runs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tqdm import tqdm

from hqx import db_commands, logs
from shared.config import Settings
from shared.errors import HqxError
from shared.vocabulary import Role

T = TypeVar("T")

if TYPE_CHECKING:
    from datetime import datetime


Handler = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hqx`` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
        return int(args.handler(args, settings))
    except HqxError as e:
        print(f"hqx: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hqx: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hqx", description="helloquittex: leave X, keep your audience."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    archive = commands.add_parser("archive", help="read and import X archives").add_subparsers(
        title="archive commands", metavar="COMMAND"
    )
    inspect = archive.add_parser("inspect", help="validate an archive without storing it")
    inspect.add_argument("path", type=Path, help="the zip as X delivers it, or its folder")
    inspect.add_argument("--json", action="store_true", help="print one JSON object")
    inspect.set_defaults(handler=_archive_inspect)

    imp = archive.add_parser("import", help="store an archive's follow graph for its owner")
    imp.add_argument("path", type=Path, help="the zip as X delivers it, or its folder")
    imp.add_argument(
        "--organisation", action="store_true", help="the owner is an organisation (media outlet)"
    )
    imp.set_defaults(handler=_archive_import)

    sample = archive.add_parser("sample", help="write a demo archive in X's format")
    sample.add_argument("path", type=Path, help="a .zip file, or a folder to create")
    sample.add_argument("--followers", type=int, default=1000)
    sample.add_argument("--following", type=int, default=300)
    sample.add_argument("--account-id", type=int, default=1_000_000_001)
    sample.add_argument("--username", default="demo_quitter")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(handler=_archive_sample)

    run = commands.add_parser("run", help="run the service: the bots and the web portal")
    run.add_argument(
        "--wait", action="store_true",
        help="while another hqx run holds the database, wait for it instead of refusing "
        "(a standby; what a supervisor restarts with)",
    )  # fmt: skip
    run.add_argument(
        "--role", action="append", choices=[r.value for r in Role], dest="roles",
        help="run only this part (repeat for several; PostgreSQL only): web (the portal), "
        "work (delivery and the scheduled jobs), bots (receiving); default: everything",
    )  # fmt: skip
    run.set_defaults(handler=_run)

    sandbox = commands.add_parser(
        "sandbox", help="run the whole service on this machine against local test networks"
    )
    sandbox.add_argument(
        "--keep", action="store_true", help="keep everything running after the story (Ctrl-C stops)"
    )
    sandbox.add_argument(
        "--processes",
        type=int,
        default=0,
        metavar="N",
        help="run the service as N processes of each role (web, work, bots) on the PostgreSQL "
        "database HQX_DATABASE_URL names, and kill the active bots process at the end",
    )
    sandbox.set_defaults(handler=_sandbox)

    person = commands.add_parser("person", help="people who use the service").add_subparsers(
        title="person commands", metavar="COMMAND"
    )
    show = person.add_parser("show", help="what is linked, with trust levels and proof posts")
    show.add_argument(
        "handle", help="a handle (Bluesky, Mastodon user@domain, X), a DID or an account URI"
    )
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=_person_show)
    matches = person.add_parser("matches", help="their former X contacts found, and delivered")
    matches.add_argument("handle", help="as for `person show`")
    matches.add_argument("--json", action="store_true", help="print one JSON object")
    matches.set_defaults(handler=_person_matches)

    reconnect = commands.add_parser(
        "reconnect", help="the reconnection: runs, budget, who waits"
    ).add_subparsers(title="reconnect commands", metavar="COMMAND")
    status = reconnect.add_parser("status", help="the cutover, the last runs, the write budget")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=_reconnect_status)
    rebuild = reconnect.add_parser(
        "match", help="rebuild every match from the archives (the service matches changes)"
    )
    rebuild.set_defaults(handler=_reconnect_match)

    x = commands.add_parser("x", help="X accounts: disputes between claims").add_subparsers(
        title="x commands", metavar="COMMAND"
    )
    disputes = x.add_parser("disputes", help="X accounts two people claim, used for nothing")
    disputes.add_argument("--json", action="store_true", help="print one JSON object")
    disputes.set_defaults(handler=_x_disputes)
    settle = x.add_parser("settle", help="give a disputed X account to one of its claimants")
    settle.add_argument("x_account_id", type=int, help="the X account's numeric id")
    settle.add_argument("--to", type=int, required=True, metavar="PERSON", help="the winner")
    settle.set_defaults(handler=_x_settle)

    media = commands.add_parser(
        "directory", help="the public media directory: requests, approvals"
    ).add_subparsers(title="directory commands", metavar="COMMAND")
    listing = media.add_parser("list", help="entries: approved, or waiting with --pending")
    listing.add_argument("--pending", action="store_true", help="the requests to approve")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(handler=_directory_list)
    approve = media.add_parser("approve", help="show an entry in the public directory")
    approve.add_argument("person", type=int, help="the person who asked (see `list --pending`)")
    approve.set_defaults(handler=_directory_approve)
    remove = media.add_parser("remove", help="take an entry out of the directory")
    remove.add_argument("person", type=int, help="the person whose entry it is")
    remove.set_defaults(handler=_directory_remove)

    db_commands.add(commands)

    config = commands.add_parser("config", help="the configuration").add_subparsers(
        title="config commands", metavar="COMMAND"
    )
    config.add_parser("check", help="validate HQX_ settings and show them").set_defaults(
        handler=_config_check
    )
    return parser


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    # tqdm's disable=None hides the bar when stderr is not a terminal.
    with tqdm(desc=label, unit="B", unit_scale=True, disable=None, file=sys.stderr) as bar:

        def update(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield update


def _archive_inspect(args: argparse.Namespace, settings: Settings) -> int:
    from shared.xarchive.reader import summarize_archive

    with _progress_bar("reading") as progress:
        summary = summarize_archive(args.path, settings.archive_limits, progress=progress)
    if args.json:
        print(json.dumps(summary.as_json(), ensure_ascii=False))
        return 0
    print(f"X account @{summary.username} (id {summary.account_id})")
    print(f"  followers   {summary.followers:,}")
    print(f"  following   {summary.following:,}")
    print(f"  duplicates  {summary.duplicate_rows:,} rows (counted once)")
    print(f"  rejected    {summary.rejected_rows:,} rows")
    for reason, count in summary.rejections.items():
        print(f"    {count:,} x {reason}")
    for example in summary.rejection_examples:
        print(f"    e.g. {example}")
    print(f"  files       {', '.join(summary.files)}")
    return 0


def _archive_import(args: argparse.Namespace, settings: Settings) -> int:
    from shared.archive_import import import_archive
    from shared.vocabulary import PersonKind

    kind = PersonKind.ORGANISATION if args.organisation else PersonKind.INDIVIDUAL
    started = time.perf_counter()
    with db_commands.database(settings) as engine, _progress_bar("importing") as progress:
        result = import_archive(
            engine, args.path, settings.archive_limits, kind=kind, progress=progress
        )
    summary = result.summary
    person = f"person {result.person_id}" + (" (new)" if result.new_person else "")
    print(f"Imported @{summary.username} (X id {summary.account_id}) for {person}")
    print(f"  followers   {summary.followers:,}")
    print(f"  following   {summary.following:,}")
    print(f"  rejected    {summary.rejected_rows:,} rows, duplicates {summary.duplicate_rows:,}")
    if result.replaced_edges:
        print(f"  replaced    {result.replaced_edges:,} edges of the earlier import")
    print(f"  took        {time.perf_counter() - started:.1f} s")
    return 0


def _archive_sample(args: argparse.Namespace, _settings: Settings) -> int:
    from shared.xarchive.sample import random_ids, write_archive

    if args.path.exists():
        raise HqxError(f"{args.path} already exists")
    write_archive(
        args.path,
        args.account_id,
        args.username,
        random_ids(args.followers, seed=args.seed),
        random_ids(args.following, seed=args.seed + 1),
    )
    print(
        f"Wrote {args.path}: @{args.username}, {args.followers:,} followers, "
        f"{args.following:,} following"
    )
    return 0


def _person_show(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from shared.db.migrate import require_current
    from shared.identity.people import describe

    with db_commands.database(settings) as engine:
        require_current(engine)
        with Session(engine) as session:
            person_id = _person(session, args.handle)
            found = describe(session, person_id)
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
        return 0
    print(f"Person {found['person']} ({found['kind']}), since {found['since']}")
    for account in found["accounts"]:
        print(f"  {account['network']:9} @{account['handle']}  {account['trust']}")
        print(f"  {'':9} {account['subject']}")
        for proof in account.get("proofs", []):
            print(f"  {'':9} proof {proof['verified_at']}: {proof['url'] or proof['post']}")
        if account.get("archive"):
            archive = account["archive"]
            print(
                f"  {'':9} archive {archive['imported_at']}: {archive['followers']:,} followers,"
                f" {archive['following']:,} following"
            )
    for purpose, granted in found["consents"].items():
        print(f"  consent   {purpose}: {'yes' if granted else 'no'}")
    return 0


def _person_matches(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from shared.db.migrate import require_current
    from shared.reconnection import reports

    with db_commands.database(settings) as engine:
        require_current(engine)
        with Session(engine) as session:
            person_id = _person(session, args.handle)
            found = reports.matches_report(session, person_id)
    if args.json:
        print(json.dumps({"person": person_id, "matches": found}, ensure_ascii=False))
        return 0
    print(f"Person {person_id}: {len(found)} former X contacts found")
    for match in found:
        accounts = ", ".join(f"{n} @{h}" for n, h in match["accounts"].items()) or "no account"
        print(f"  person {match['person']} ({'/'.join(match['relation'])}): {accounts}")
        for delivery in match["delivered"] or [{"network": "-", "via": "waiting", "at": ""}]:
            print(f"  {'':8} {delivery['network']:9} {delivery['via']:9} {delivery['at']}")
    return 0


def _reconnect_status(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from bsky_service.adapter import BlueskyAdapter
    from mastodon_bot.adapter import MastodonAdapter
    from shared.clock import iso_utc, utcnow
    from shared.db.migrate import require_current
    from shared.reconnection import reports

    now = utcnow()
    with db_commands.database(settings) as engine:
        require_current(engine)
        with Session(engine) as session:
            found: dict[str, Any] = {
                "cutover_at": iso_utc(settings.cutover_at),
                "started": now >= settings.cutover_at,
                "runs": reports.runs_report(session),
                "waiting": {
                    adapter.network.value: reports.waiting(session, adapter.network)
                    for adapter in (BlueskyAdapter, MastodonAdapter)
                },
                "budget": [
                    reports.budget_report(session, adapter.network, budget, now)
                    for adapter in (BlueskyAdapter, MastodonAdapter)
                    if (budget := adapter.write_budget) is not None
                ],
            }
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
        return 0
    state = "started" if found["started"] else "not yet"
    print(f"Cutover {found['cutover_at']} ({state})")
    for network, due in found["waiting"].items():
        print(f"  {network:9} waiting: {due['pairs']:,} contacts for {due['people']:,} people")
    for budget in found["budget"]:
        print(
            f"  {budget['network']:9} budget: {budget['last_hour']:,}/{budget['per_hour']:,} "
            f"points this hour, {budget['last_day']:,}/{budget['per_day']:,} today, "
            f"{budget['paced_later']:,} paced later, {budget['left_today']:,} left to plan"
        )
    if not found["runs"]:
        print("No run yet.")
    for run in found["runs"]:
        end = run["finished_at"] or "running (resumed at the next start)"
        print(
            f"  run {run['key']}: {run['started_at']} -> {end}; found {run['found']:,}, "
            f"delivered {run['delivered']:,}, {run['actions']:,} actions, "
            f"{run['points']:,} points, {run['deferred']:,} left for later"
        )
    return 0


def _reconnect_match(_args: argparse.Namespace, settings: Settings) -> int:
    import time

    from shared.db.migrate import require_current
    from shared.reconnection import matching

    with db_commands.database(settings) as engine:
        require_current(engine)
        started = time.monotonic()
        done = matching.match_all(engine)
    print(
        f"{done.total:,} matches ({done.found:,} new, {done.gone:,} gone) "
        f"in {time.monotonic() - started:.1f} s"
    )
    return 0


def _person(session: Any, handle: str) -> int:
    """The person with this account, or a one-line refusal."""
    from shared.identity.people import find_person

    person_id = find_person(session, handle)
    if person_id is None:
        raise HqxError(f"nobody with the account {handle!r} uses the service")
    return person_id


def _x_disputes(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from shared.db.migrate import require_current
    from shared.identity import xtrust

    with db_commands.database(settings) as engine:
        require_current(engine)
        with Session(engine) as session:
            found: list[dict[str, Any]] = [
                {
                    "x_account_id": held.x_account_id,
                    "holder": _claimant(held.person_id, held.username, held.created_at)
                    | {"trust": held.trust},
                    "claims": [_claimant(c.person_id, c.username, c.created_at) for c in claims],
                }
                for held, claims in xtrust.disputes(session)
            ]
    if args.json:
        print(json.dumps({"disputes": found}, ensure_ascii=False))
        return 0
    if not found:
        print("No disputed X account.")
    for dispute in found:
        holder = dispute["holder"]
        print(f"X account {dispute['x_account_id']}:")
        print(
            f"  held by person {holder['person']} as @{holder['username']}"
            f" ({holder['trust']}, since {holder['since']})"
        )
        for claim in dispute["claims"]:
            print(
                f"  claimed by person {claim['person']} as @{claim['username']}"
                f" (since {claim['since']})"
            )
    return 0


def _claimant(person_id: int, username: str, since: datetime) -> dict[str, Any]:
    from shared.clock import iso_utc

    return {"person": person_id, "username": username, "since": iso_utc(since)}


def _x_settle(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from hqx.app import offline_environment
    from shared import outbox
    from shared.bot import notices
    from shared.clock import utcnow
    from shared.db.migrate import require_current
    from shared.identity import attestation, xtrust

    env = offline_environment(settings)
    with db_commands.database(settings) as engine:
        require_current(engine)
        with Session(engine) as session, session.begin():
            told = xtrust.settle(session, args.x_account_id, args.to)
            sent = notices.queue(session, told, settings.message_networks)
            trigger = f"x-settled:{args.x_account_id}:{utcnow().isoformat()}"
            involved = [n.person_id for n in told]
            for change in attestation.after_x_change(session, involved, trigger=trigger, env=env):
                outbox.queue(session, key=change.key, network=change.network,
                             action=change.action, person_id=change.person_id)  # fmt: skip
    print(
        f"X account {args.x_account_id} is person {args.to}'s; "
        f"{sent} of {len(told)} people will be told by message"
    )
    return 0


def _directory_list(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from shared.clock import iso_utc
    from shared.db.migrate import require_current
    from shared.portal import directory

    with db_commands.database(settings) as engine:
        require_current(engine)
        with Session(engine) as session:
            found = directory.entries(session, approved=not args.pending)
    if args.json:
        rows = [
            {
                "person": e.person,
                "name": e.name,
                "status": e.status,
                "accounts": e.accounts,
                "requested_at": iso_utc(e.requested_at),
                "approved_at": iso_utc(e.approved_at) if e.approved_at else None,
            }
            for e in found
        ]
        print(json.dumps({"entries": rows}, ensure_ascii=False))
        return 0
    if not found:
        print("No request waiting." if args.pending else "The directory is empty.")
    for e in found:
        accounts = ", ".join(f"{n} @{h}" for n, h in e.accounts.items()) or "no account"
        print(f"person {e.person}: {e.name} ({e.status}) {accounts}")
    return 0


def _directory_approve(args: argparse.Namespace, settings: Settings) -> int:
    from shared.portal import directory

    name = _written(settings, lambda session: directory.approve(session, args.person).name)
    print(f"{name} (person {args.person}) is in the public directory.")
    return 0


def _directory_remove(args: argparse.Namespace, settings: Settings) -> int:
    from shared.portal import directory

    _written(settings, lambda session: directory.remove(session, args.person))
    print(f"Person {args.person}'s entry is out of the directory.")
    return 0


def _written(settings: Settings, change: Callable[[Any], T]) -> T:
    """``change(session)`` in one transaction on the configured, current database."""
    from sqlmodel import Session

    from shared.db.migrate import require_current

    with db_commands.database(settings) as engine:
        require_current(engine)
        with Session(engine) as session, session.begin():
            return change(session)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import dataclasses

    from hqx.app import create_app, server_options
    from hqx.serving import serve

    if settings.bluesky_configured or settings.mastodon_configured:
        settings.require_secret_key()  # the bots sign link challenges with it
    logs.configure(settings)
    _say_which_bots(settings)
    if args.wait:
        settings = dataclasses.replace(settings, wait_for_lease=True)
    if args.roles:
        settings = dataclasses.replace(settings, roles=_roles(args.roles, settings))
    served = serve(
        create_app(settings),
        settings.http_host,
        settings.http_port,
        say=lambda line: print(line, flush=True),
        **server_options(),
    )
    return asyncio.run(served)


def _roles(named: list[str], settings: Settings) -> frozenset[Role]:
    """The roles asked for, where several processes may share the database."""
    roles = frozenset(Role(name) for name in named)
    if roles != frozenset(Role) and not settings.database_url.startswith("postgresql"):
        raise HqxError(
            "hqx run --role needs PostgreSQL (HQX_DATABASE_URL): on SQLite one process runs "
            "everything (hqx run)"
        )
    return roles


def _say_which_bots(settings: Settings) -> None:
    bluesky = (
        f"runs as {settings.bsky_handle}"
        if settings.bluesky_configured
        else "not configured (set HQX_BSKY_HANDLE and HQX_BSKY_APP_PASSWORD)"
    )
    mastodon = (
        f"runs at {settings.mastodon_api_base_url}"
        if settings.mastodon_configured
        else "not configured (set HQX_MASTODON_API_BASE_URL and HQX_MASTODON_ACCESS_TOKEN)"
    )
    print(f"Bluesky bot: {bluesky}", flush=True)
    print(f"Mastodon bot: {mastodon}", flush=True)


def _sandbox(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    if args.processes < 0 or (args.processes and not settings.database_url.startswith("postgres")):
        raise HqxError(
            "hqx sandbox --processes N needs N >= 1 and HQX_DATABASE_URL naming a PostgreSQL "
            "database (the processes share it)"
        )
    # The one door from the product to the local world, opened only when asked for.
    try:
        from testworld.sandbox import Layout, run_sandbox
    except ImportError as e:
        raise HqxError(
            f"the sandbox needs the local test world ({e}): pip install 'helloquittex[sandbox]'"
        ) from e
    # The story on standard output, the service's log on error: as text, only what goes
    # wrong (the story says the rest); as JSON lines, at the level asked for (to be read).
    if settings.log_format == "text":
        settings = dataclasses.replace(settings, log_level="WARNING")
    logs.configure(settings)
    return run_sandbox(keep=args.keep, layout=Layout(args.processes, settings.database_url))


def _config_check(_args: argparse.Namespace, settings: Settings) -> int:
    for name, value in settings.redacted().items():
        print(f"{name:24} {value}")
    bots = [
        ("Bluesky", settings.bluesky_configured),
        ("Mastodon", settings.mastodon_configured),
    ]
    for network, configured in bots:
        print(f"{network} bot: {'configured' if configured else 'not configured'}")
    return 0
