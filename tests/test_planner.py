"""The pack planner: shared packs where many need the same accounts, people's own packs for
the rest, within the day's write budget."""

from __future__ import annotations

from shared.reconnection import planner
from shared.reconnection.planner import CREATE_COST, PACK_COST, PACK_SIZE, Pack


def test_accounts_many_need_go_in_one_shared_pack() -> None:
    popular = list(range(100, 110))
    needs = {1: [*popular, 7], 2: popular, 3: popular}
    plan = planner.plan(needs, [], budget=10_000)
    [shared] = [p for p in plan.writes() if p.owner is None]
    assert sorted(shared.added) == popular
    assert all(plan.reach[person][c] == shared.id for person in needs for c in popular)
    [own] = [p for p in plan.writes() if p.owner == 1]
    assert own.added == [7], "what only Alice needs goes in her own pack"
    assert plan.reached == 31
    assert plan.points == 2 * PACK_COST + 11 * CREATE_COST
    naive = planner.naive(needs, budget=10_000)
    assert naive.reached == 31 and naive.points == 3 * PACK_COST + 31 * CREATE_COST


def test_a_shared_pack_is_given_only_to_whom_it_holds_enough_contacts() -> None:
    popular = list(range(100, 100 + planner.SHARED_FIT))
    needs = {1: popular, 2: popular, 3: popular[:2]}
    plan = planner.plan(needs, [], budget=10_000)
    [shared] = [p for p in plan.writes() if p.owner is None]
    assert {plan.reach[3][c] for c in popular[:2]} != {shared.id}, "two of 150: own pack"


def test_the_budget_is_never_exceeded_and_the_rest_waits() -> None:
    needs = {person: [1000 + person * 10 + i for i in range(10)] for person in range(20)}
    budget = 100
    plan = planner.plan(needs, [], budget)
    assert plan.points <= budget
    assert plan.reached + plan.deferred == 200
    # Two people's packs in full (6 + 30 points each), the third's as far as it goes.
    assert plan.reached == 10 + 10 + (budget - 2 * 36 - PACK_COST) // CREATE_COST


def test_packs_leave_what_is_kept_for_the_messages_of_later_batches() -> None:
    popular = list(range(100, 100 + planner.SHARED_FIT))
    needs = {1: [*popular, 7, 8, 9], 2: popular, 3: popular}
    shared_cost = PACK_COST + len(popular) * CREATE_COST
    budget = shared_cost + PACK_COST + 3 * CREATE_COST  # all of it, without keeping
    assert planner.plan(needs, [], budget).deferred == 0
    kept = planner.plan(needs, [], budget, keep=2 * CREATE_COST)
    assert kept.reached == 3 * len(popular) + 1, "the shared pack in full; one of her own"
    assert kept.deferred == 2 and kept.points == budget - 2 * CREATE_COST
    # Messages for all the day: the shared pack (what they announce) still takes up to half
    # the budget, nobody's own pack anything.
    all_kept = planner.plan(needs, [], budget, keep=budget)
    assert 0 < all_kept.points <= budget // 2
    assert all(p.owner is None for p in all_kept.writes())


def test_an_existing_pack_is_filled_then_a_next_part_begins() -> None:
    existing = Pack(id=5, owner=1, members=frozenset(range(PACK_SIZE - 2)))
    plan = planner.plan({1: [900, 901, 902]}, [existing], budget=10_000)
    filled, started = plan.writes()
    assert (filled.id, filled.added, filled.existing) == (5, [900, 901], True)
    assert (started.owner, started.part, started.added, started.existing) == (1, 2, [902], False)
    assert plan.points == 3 * CREATE_COST + PACK_COST


def test_contacts_already_in_a_shared_pack_cost_nothing() -> None:
    members = frozenset(range(100, 100 + planner.SHARED_FIT))
    plan = planner.plan({1: sorted(members)}, [Pack(id=9, owner=None, members=members)], 0)
    assert plan.reached == len(members) and plan.points == 0
    assert set(plan.reach[1].values()) == {9}
