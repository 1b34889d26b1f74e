"""Benchmark: matched pairs made reachable by one day of Bluesky write budget.

    python benchmarks/planner.py [--persons 10000] [--edges 1000000] [--budget 35000]

A synthetic power-law graph: ``--persons`` people on Bluesky, each with contacts drawn from
the others, popular people drawn far more often (Zipf), ``--edges`` pairs in all. The
planner (:func:`shared.reconnection.planner.plan`: shared packs for the most wanted accounts, then
people's own packs, largest first) and the naive baseline
(:func:`shared.reconnection.planner.naive`:
first come, each person their own pack of everything) each spend ``--budget`` points (a
day of Bluesky's 35,000, a created record costing 3) on the same needs, in the same run.
Printed: pairs reachable, points spent, packs written, pairs left for later days, and the
planner's gain over the baseline (target: 3x or more).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from shared.reconnection import planner  # noqa: E402


def needs(persons: int, edges: int, seed: int = 1) -> dict[int, list[int]]:
    """Person -> their contacts, in a power-law graph of about ``edges`` pairs."""
    rng = np.random.default_rng(seed)
    per = rng.zipf(1.8, persons).clip(1, persons // 10)  # how many contacts each has
    per = (per * (edges / per.sum())).astype(np.int64).clip(1, persons - 1)
    popularity = rng.permutation(persons)  # the person of each popularity rank
    found: dict[int, list[int]] = {}
    for person in range(persons):
        ranks = (rng.zipf(1.2, int(per[person]) * 2) - 1) % persons
        contacts = [int(c) for c in dict.fromkeys(popularity[ranks]) if c != person]
        found[person] = contacts[: int(per[person])]
    return found


def report(name: str, plan: planner.Plan, seconds: float) -> None:
    writes = plan.writes()
    new_packs = sum(1 for p in writes if not p.existing)
    shared = sum(1 for p in writes if p.owner is None)
    print(
        f"{name:9} reachable {plan.reached:>9,} pairs  points {plan.points:>7,}  "
        f"packs {new_packs:>5,} (shared {shared:>3})  deferred {plan.deferred:>9,}  "
        f"{seconds:6.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--budget", type=int, default=35_000)
    args = parser.parse_args()
    graph = needs(args.persons, args.edges)
    pairs = sum(len(c) for c in graph.values())
    print(f"{args.persons:,} persons, {pairs:,} matched pairs, budget {args.budget:,} points")
    started = time.perf_counter()
    baseline = planner.naive(graph, args.budget)
    report("naive", baseline, time.perf_counter() - started)
    started = time.perf_counter()
    planned = planner.plan(graph, [], args.budget)
    report("planner", planned, time.perf_counter() - started)
    print(f"gain: {planned.reached / max(baseline.reached, 1):.1f}x the baseline")


if __name__ == "__main__":
    main()
