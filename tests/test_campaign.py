"""The campaign's simulation (``benchmarks/campaign.py``) at a small scale, as CI runs it:
the real reconnection on a crowd of 340 people, days replayed on a simulated clock, a crowd
where the bot's budget binds (first come takes days). The service's planner reconnects it
sooner than first come, first served, within the networks' limits for the bot's writes."""

from __future__ import annotations

from benchmarks import campaign
from shared.vocabulary import Via

SCALE, DAYS = 0.02, 6.0


def test_the_crowd_is_reconnected_sooner_than_first_come_and_within_the_bots_limits() -> None:
    said: list[str] = []
    total, results = campaign.simulate(campaign.Options(scale=SCALE, days=DAYS), said.append)
    assert total > 1_000 and said[0].startswith("340 people")
    planner, first_come = results["planner"], results["first-come"]
    for share in (0.5, 0.9):
        ours = campaign.reached_at(planner, total, share)
        theirs = campaign.reached_at(first_come, total, share)
        assert ours is not None, f"{share:.0%} reached within {DAYS:g} days"
        assert theirs is None or ours < theirs, (share, ours, theirs)
    assert campaign.reached_at(planner, total, 0.99) is not None
    assert len(planner.run_seconds) == DAYS, "the cutover's run, then one re-match a day"
    delivered = {via: len(hours) for via, hours in planner.hours.items()}
    assert delivered[Via.FOLLOWED] and delivered[Via.SHARED] and delivered[Via.MESSAGE]
    bot_writes = {kind: n for kind, n in planner.refused.items() if not kind.endswith("follow")}
    assert bot_writes == {}, "the bots' writes are paced under each network's limits"
