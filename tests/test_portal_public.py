"""The public pages: the movement's figures and their chart, in both languages; the media
directory, asked for by an outlet in its space and shown once an operator approved it."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from hqx.cli import main
from hqx.web.figures import label_heights, polylines
from shared.clock import utcnow
from shared.db.models import Person
from shared.portal import directory, stats
from shared.vocabulary import PersonKind
from tests.core_world import ALICE_M, World
from tests.test_portal_space import csrf_of, portal, sign_in, signin_link

if TYPE_CHECKING:
    import pytest
    from aiohttp.test_utils import TestClient
    from sqlalchemy.engine import Engine


def add_people(engine: Engine, *days_ago: int) -> None:
    with Session(engine) as session, session.begin():
        for ago in days_ago:
            session.add(Person(created_at=utcnow() - timedelta(days=ago)))


def test_the_figures_count_and_run_day_by_day(engine: Engine) -> None:
    add_people(engine, 0, 0, 10, 200)
    with Session(engine) as session:
        figures = stats.figures(session)
        days = stats.history(session, today=utcnow().date(), days=30)
    assert figures["people"] == 4 and figures["matches"] == 0
    assert [d.day for d in days][-1] == utcnow().date() and len(days) == 30
    people = [d.totals["people"] for d in days]
    assert people[0] == 1, "before the window: counted in its first day"
    assert people[-11] == 2 and people[-2] == 2 and people[-1] == 4
    assert people == sorted(people), "running totals never go down"


def test_the_chart_draws_each_line_on_one_scale() -> None:
    days = [
        stats.Day(date(2026, 1, n + 1), {name: n * 10 for name in stats.CHARTED}) for n in range(3)
    ]
    lines = polylines(days)
    assert lines["people"] == "0.0,200.0 300.0,100.0 600.0,0.0"


def test_the_figures_page_in_both_languages(engine: Engine, database_url: str) -> None:
    add_people(engine, 0, 3)

    async def scene(client: TestClient[Any, Any]) -> tuple[str, str]:
        french = await (await client.get("/stats")).text()
        english = await (await client.get("/stats?lang=en")).text()
        return french, english

    french, english = portal(database_url, scene)
    assert "Le mouvement en chiffres" in french and "<dt>Personnes</dt><dd>2</dd>" in french
    assert "The movement in figures" in english and "<dt>People</dt><dd>2</dd>" in english
    assert english.count("<polyline ") == len(stats.CHARTED)
    assert '<html lang="en">' in english


def test_an_outlet_asks_an_operator_approves_the_directory_shows_it(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    world = World(engine, public_url="https://hqx.example")
    token = signin_link(world, ALICE_M)
    person = world.persons_of(ALICE_M)

    async def ask(client: TestClient[Any, Any]) -> tuple[int, str, str]:
        page = await sign_in(client, token)
        empty = await client.post("/me/directory", data={"csrf": csrf_of(page), "name": " "})
        form = {"csrf": csrf_of(page), "name": "Le Média", "status": "committed"}
        await client.post("/me/directory?lang=en", data=form)
        mine = await (await client.get("/me?lang=en")).text()
        listed = await (await client.get("/media")).text()
        return empty.status, await empty.text() + mine, listed

    status, said, before = portal(database_url, ask)
    assert status == 400 and "the name must be 1 to 120 characters, not 0" in said
    assert "Request waiting for approval." in said
    assert "Le Média" not in before, "not shown before an operator approves"

    monkeypatch.setenv("HQX_DATABASE_URL", database_url)
    assert main(["directory", "list", "--pending"]) == 0
    pending = capsys.readouterr().out
    assert f"person {person}: Le Média (committed) mastodon @{ALICE_M.handle}" in pending
    assert main(["directory", "approve", str(person)]) == 0
    assert main(["directory", "approve", "999"]) == 1
    assert "person 999 has not asked to be in the directory" in capsys.readouterr().err

    async def look(client: TestClient[Any, Any]) -> tuple[str, str]:
        french = await (await client.get("/media")).text()
        english = await (await client.get("/media?lang=en")).text()
        return french, english

    french, english = portal(database_url, look)
    assert "Engagés à quitter X" in french and "Le Média" in french and ALICE_M.handle in french
    assert "Committed to leaving X" in english
    with Session(engine) as session:
        assert session.get_one(Person, person).kind == PersonKind.ORGANISATION


def test_the_directory_filters_and_sorts_as_the_reader_asks(
    engine: Engine, database_url: str
) -> None:
    with Session(engine) as session, session.begin():
        for name, status, button in [("Zeta Radio", "left", "removed"),
                                     ("Alpha Journal", "considering", "shown"),
                                     ("Mid Hebdo", "committed", ""),
                                     ("Not Yet", "left", "removed")]:  # fmt: skip
            person = Person()
            session.add(person)
            session.flush()
            directory.ask(session, person.id or 0, name, status, button)
            if name != "Not Yet":
                directory.approve(session, person.id or 0)

    async def scene(client: TestClient[Any, Any]) -> list[str]:
        pages = []
        for query in ("", "status=left", "button=removed&status=left", "sort=status",
                      "status=nonsense&sort=nonsense"):  # fmt: skip
            pages.append(await (await client.get(f"/media?lang=en&{query}")).text())
        return pages

    everyone, left, removed, by_status, unknown = portal(database_url, scene)

    def names(page: str) -> list[str]:
        return re.findall(r'<th scope="row"><a href="/join/[\w-]+\?lang=en">([^<]+)</a>', page)

    assert names(everyone) == ["Alpha Journal", "Mid Hebdo", "Zeta Radio"]
    assert names(left) == ["Zeta Radio"] and "1 of 3" in left
    assert names(removed) == ["Zeta Radio"] and "<td>Removed</td>" in removed
    assert names(by_status) == ["Zeta Radio", "Mid Hebdo", "Alpha Journal"]
    assert names(unknown) == names(everyone), "a word it does not know filters nothing"
    assert "Not Yet" not in everyone, "waiting for an operator"


def test_the_lines_end_labels_never_overlap() -> None:
    placed = label_heights({"people": 10.0, "archives": 10.0, "matches": 200.0, "links": 15.0})
    assert placed["people"] == 10.0 and placed["matches"] == 200.0
    heights = sorted(placed.values())
    assert all(b - a >= 14.0 for a, b in itertools.pairwise(heights))
