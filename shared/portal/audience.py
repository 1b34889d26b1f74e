"""An outlet's audience coming back, in figures: how many of its X followers are here (on
each network), how many have been reconnected to it and by which channel, how many are
still awaited, what was counted for it (shares, invitations), and the same day by day.

Counts only: the outlet never learns who. A person who turned being found off still counts
in the totals (their delivery happened, or waits), never anywhere by name. Each figure is
one aggregate over the outlet's own rows (the matches' followee index, the deliveries'
contact index): an outlet with a million followers here is counted in the database, not
in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from shared.clock import utcnow
from shared.db.models import ArchiveImport, DirectoryEntry, OutletAudience, XIdentity
from shared.portal import tallies
from shared.portal.stats import day_of
from shared.vocabulary import Network, Tally, Via

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

CHANNELS: dict[str, tuple[Via, ...]] = {
    "packs": (Via.LIST, Via.SHARED),
    "suggestions": (Via.MESSAGE, Via.BRIDGE),
    "follows": (Via.FOLLOWED,),
    "already": (Via.FOLLOWS,),
}
"""How people were reconnected to the outlet, as it reads it: in a starter pack or list, by
a suggestion (a message, a Bridgy Fed address), by a follow made with their grant, or
already following it there."""
CHARTED = ("here", "reconnected", "shares", "invitations")
"""The daily figures: followers here and reconnected (running totals), shares and
invitations (each day's)."""
HISTORY_DAYS_MAX = 3 * 366
KEPT_FOR = timedelta(minutes=30)
"""How old the kept figures may be before a page counts them itself (the work process
counts every approved outlet every :data:`COUNT_EVERY`)."""
COUNT_EVERY = timedelta(minutes=10)

# Constants, bound with the outlet's id: never anything from a request in the text.
_HERE = "SELECT count(*) FROM x_match WHERE followee_id = :o"
_HERE_ON = (
    "SELECT i.network, count(DISTINCT m.follower_id) FROM x_match m"
    " JOIN identity i ON i.person_id = m.follower_id WHERE m.followee_id = :o"
    " GROUP BY i.network"
)
_BY_VIA = "SELECT via, count(*) FROM delivery WHERE contact_id = :o GROUP BY via"
_RECONNECTED = (
    "SELECT count(DISTINCT person_id) FROM delivery WHERE contact_id = :o AND via <> 'elsewhere'"
)
_AWAITED = (
    "SELECT count(*) FROM x_match m WHERE m.followee_id = :o AND NOT EXISTS"
    " (SELECT 1 FROM delivery d WHERE d.person_id = m.follower_id AND d.contact_id = :o"
    " AND d.via <> 'elsewhere')"
)
_HERE_BY_DAY = "SELECT {day} AS d, count(*) FROM x_match WHERE followee_id = :o GROUP BY d"
_FIRST_BY_DAY = (
    "SELECT {day} AS d, count(*) FROM (SELECT person_id, min(delivered_at) AS first"
    " FROM delivery WHERE contact_id = :o AND via <> 'elsewhere' GROUP BY person_id) f"
    " GROUP BY d"
)


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    totals: dict[str, int]
    """Each of :data:`CHARTED` at the end of the day."""


@dataclass(frozen=True, slots=True)
class Audience:
    on_x: int
    """Its followers on X, as its last archive listed them (0: no archive imported)."""
    here: int
    """Those of them who are people of the service."""
    here_on: dict[Network, int]
    """Of those, how many have an account on each network."""
    channels: dict[str, int]
    """Reconnections by channel (:data:`CHANNELS`), one per person and network."""
    reconnected: int
    """People reconnected to the outlet on at least one network."""
    awaited: int
    """People here who follow it on X and have not been reconnected to it yet."""
    counted: dict[Tally, int]
    days: list[Day]
    counted_at: datetime
    """When these figures were counted."""

    def dump(self) -> tuple[dict[str, Any], list[list[Any]]]:
        """The figures and the days, as JSON keeps them."""
        figures = {
            "on_x": self.on_x, "here": self.here, "reconnected": self.reconnected,
            "awaited": self.awaited, "channels": self.channels,
            "here_on": {n.value: c for n, c in self.here_on.items()},
            "counted": {t.value: c for t, c in self.counted.items()},
        }  # fmt: skip
        days = [[d.day.isoformat(), *(d.totals[name] for name in CHARTED)] for d in self.days]
        return figures, days

    @classmethod
    def load(cls, kept: OutletAudience) -> Audience:
        f = kept.figures
        return cls(
            on_x=f["on_x"], here=f["here"], reconnected=f["reconnected"],
            awaited=f["awaited"], channels=dict(f["channels"]),
            here_on={Network(n): c for n, c in f["here_on"].items()},
            counted={Tally(t): c for t, c in f["counted"].items()},
            days=[Day(date.fromisoformat(d[0]), dict(zip(CHARTED, d[1:], strict=True)))
                  for d in kept.days],
            counted_at=kept.counted_at,
        )  # fmt: skip


def latest(session: Session, outlet: int, *, max_age: timedelta = KEPT_FOR) -> Audience:
    """The outlet's audience as last counted, or counted now (and kept) when that was
    longer than ``max_age`` ago: its page costs a read, whatever its audience's size."""
    kept = session.get(OutletAudience, outlet)
    if kept is None or kept.counted_at <= utcnow() - max_age:
        return keep(session, outlet)
    return _with_tallies(session, Audience.load(kept), outlet)


def _with_tallies(session: Session, seen: Audience, outlet: int) -> Audience:
    """``seen`` with the outlet's shares and invitations as they are now (a few rows a day,
    read at each view: a share shows at once, not at the next count)."""
    daily = tallies.daily(session, outlet)
    days = [
        Day(d.day, d.totals | {
            "shares": daily.get(d.day, {}).get(Tally.SHARE, 0),
            "invitations": daily.get(d.day, {}).get(Tally.INVITATION, 0),
        })
        for d in seen.days
    ]  # fmt: skip
    today = utcnow().date()
    if days and days[-1].day < today:  # counted yesterday: today so far, from the tallies
        last = days[-1].totals
        days.append(Day(today, {
            "here": last["here"], "reconnected": last["reconnected"],
            "shares": daily.get(today, {}).get(Tally.SHARE, 0),
            "invitations": daily.get(today, {}).get(Tally.INVITATION, 0),
        }))  # fmt: skip
    return replace(seen, counted=tallies.totals(session, outlet), days=days)


def keep(session: Session, outlet: int) -> Audience:
    """Count the outlet's audience now, and keep it (in the caller's session, committed)."""
    counted = audience(session, outlet, today=utcnow().date())
    figures, days = counted.dump()
    kept = session.get(OutletAudience, outlet) or OutletAudience(person_id=outlet)
    kept.counted_at, kept.figures, kept.days = counted.counted_at, figures, days
    session.add(kept)
    session.commit()
    return counted


def count_all(engine: Engine) -> int:
    """Count every approved outlet's audience again (each in its own transaction); how many."""
    with Session(engine) as session:
        outlets = list(session.exec(
            select(DirectoryEntry.person_id).where(col(DirectoryEntry.approved_at).is_not(None))
        ))  # fmt: skip
    for outlet in outlets:
        with Session(engine) as session:
            keep(session, outlet)
    return len(outlets)


def audience(session: Session, outlet: int, *, today: date) -> Audience:
    """The outlet's audience now, and day by day from its first figure to ``today``."""
    bound = {"o": outlet}

    def scalar(query: str) -> int:
        return int(session.execute(text(query), bound).scalar_one())

    here_on = {Network(n): int(c) for n, c in session.execute(text(_HERE_ON), bound)}
    by_via = {Via(v): int(c) for v, c in session.execute(text(_BY_VIA), bound)}
    return Audience(
        on_x=_followers_on_x(session, outlet),
        here=scalar(_HERE),
        here_on={n: here_on.get(n, 0) for n in (Network.BLUESKY, Network.MASTODON)},
        channels={name: sum(by_via.get(v, 0) for v in vias) for name, vias in CHANNELS.items()},
        reconnected=scalar(_RECONNECTED),
        awaited=scalar(_AWAITED),
        counted=tallies.totals(session, outlet),
        days=_days(session, outlet, today),
        counted_at=utcnow(),
    )


def _followers_on_x(session: Session, outlet: int) -> int:
    accounts = select(XIdentity.x_account_id).where(XIdentity.person_id == outlet)
    counts = session.exec(
        select(ArchiveImport.followers).where(col(ArchiveImport.x_account_id).in_(accounts))
    )
    return sum(counts)


def _days(session: Session, outlet: int, today: date) -> list[Day]:
    day = day_of(session)
    per_day: dict[str, dict[date, int]] = {}
    for name, query in (("here", _HERE_BY_DAY), ("reconnected", _FIRST_BY_DAY)):
        rows = session.execute(text(query.format(day=day.format(column=_DATED[name]))),
                               {"o": outlet})  # fmt: skip
        per_day[name] = {date.fromisoformat(str(d)[:10]): int(n) for d, n in rows}
    counted = tallies.daily(session, outlet)
    per_day["shares"] = {d: c.get(Tally.SHARE, 0) for d, c in counted.items()}
    per_day["invitations"] = {d: c.get(Tally.INVITATION, 0) for d, c in counted.items()}
    known = [d for days in per_day.values() for d in days]
    if not known:
        return []
    first = max(min(known), today - timedelta(days=HISTORY_DAYS_MAX - 1))
    before = {name: sum(n for d, n in per_day[name].items() if d < first)
              for name in ("here", "reconnected")}  # fmt: skip
    days, running = [], dict(before)
    for offset in range((today - first).days + 1):
        moment = first + timedelta(days=offset)
        for name in ("here", "reconnected"):
            running[name] += per_day[name].get(moment, 0)
        days.append(Day(moment, {
            "here": running["here"], "reconnected": running["reconnected"],
            "shares": per_day["shares"].get(moment, 0),
            "invitations": per_day["invitations"].get(moment, 0),
        }))  # fmt: skip
    return days


_DATED = {"here": "found_at", "reconnected": "first"}
