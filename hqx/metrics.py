"""``/metrics`` for Prometheus, on every role's process: what the database says at the time
of the scrape (the outbox by network, kind and state, the oldest due action's age, each
network's write budget spent and left, posts received in the last hour), and what this
process does (the leases it holds, its receive loops, its imports). Each process serves
its own, so several processes never mix their figures: a scrape names the process by its
address."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func
from sqlmodel import Session, col, select

from hqx.state import ENGINE, IMPORTS, SERVICE
from shared.clock import utcnow
from shared.db.models import InboundPost, OutboundAction
from shared.reconnection import budget as write_budget
from shared.vocabulary import ActionStatus, UploadState

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

METRICS = web.AppKey("metrics", CollectorRegistry)


class ServiceCollector:
    """The figures of one process, read when scraped."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        if SERVICE not in self._app:
            return  # not started yet
        yield from self._outbox()
        yield from self._process()

    def _outbox(self) -> Iterator[Metric]:
        service, now = self._app[SERVICE], utcnow()
        actions = GaugeMetricFamily(
            "hqx_outbound_actions", "Outbound actions by network, kind and state (sent and "
            "failed ones are kept 30 days)", labels=["network", "kind", "status"])  # fmt: skip
        oldest = GaugeMetricFamily(
            "hqx_outbound_oldest_due_seconds", "Age of the oldest pending action that is due",
            labels=["network"])  # fmt: skip
        left = GaugeMetricFamily("hqx_write_budget_left_points",
                                 "Points of the bot's daily write budget left to plan",
                                 labels=["network"])  # fmt: skip
        spent = GaugeMetricFamily(
            "hqx_write_budget_spent_points",
            "Points planned in the last 24 hours",
            labels=["network"],
        )
        received = GaugeMetricFamily("hqx_inbound_posts_last_hour",
                                     "Posts addressed to the bots, handled in the last hour",
                                     labels=["network"])  # fmt: skip
        with Session(self._app[ENGINE]) as session:
            columns = (OutboundAction.network, OutboundAction.kind, OutboundAction.status)
            counted = session.exec(select(*columns, func.count()).group_by(*columns))
            for network, kind, status, count in counted:
                actions.add_metric([str(network), kind, str(status)], count)
            due = session.exec(
                select(OutboundAction.network, func.min(OutboundAction.not_before))
                .where(OutboundAction.status == ActionStatus.PENDING,
                       col(OutboundAction.not_before) <= now)
                .group_by(OutboundAction.network)
            )  # fmt: skip
            for network, since in due:
                oldest.add_metric([str(network)], (now - _aware(since)).total_seconds())
            for adapter in service.adapters:
                budget = adapter.write_budget
                if budget is not None:
                    remaining = write_budget.left(session, adapter.network, budget, now)
                    allowance = write_budget.daily(budget)
                    left.add_metric([str(adapter.network)], remaining)
                    spent.add_metric([str(adapter.network)], allowance - remaining)
            posts = session.exec(
                select(InboundPost.network, func.count())
                .where(col(InboundPost.received_at) > now - timedelta(hours=1))
                .group_by(InboundPost.network)
            )
            for network, count in posts:
                received.add_metric([str(network)], count)
        yield from (actions, oldest, left, spent, received)

    def _process(self) -> Iterator[Metric]:
        service = self._app[SERVICE]
        leases = GaugeMetricFamily("hqx_lease_held", "Leases this process holds",
                                   labels=["lease"])  # fmt: skip
        for name in service.leases():
            leases.add_metric([name.split(":", 1)[0] if name.startswith("process:") else name], 1)
        loops = GaugeMetricFamily("hqx_receiving", "This process's receive loop, by state",
                                  labels=["network", "state"])  # fmt: skip
        for network, loop in service.receiving().items():
            loops.add_metric([str(network), loop.current()], 1)
        limited = CounterMetricFamily("hqx_rate_limited", "Sends this process held back for "
                                      "a network's rate limit (HTTP 429, or none left)",
                                      labels=["network"])  # fmt: skip
        for network in service.receiving():
            limited.add_metric([str(network)], service.rate_limited().get(network, 0))
        lag = GaugeMetricFamily("hqx_receive_lag_seconds", "From publication to this "
                                "process's reading, of each network's last post received",
                                labels=["network"])  # fmt: skip
        for network, seconds in service.receive_lag().items():
            lag.add_metric([str(network)], seconds)
        matched = GaugeMetricFamily("hqx_matching_last_seconds", "How long this process's "
                                    "last matching took, by kind (requested: people who "
                                    "asked; full: everyone)", labels=["kind"])  # fmt: skip
        spent = CounterMetricFamily("hqx_matching_seconds", "Time this process spent "
                                    "matching, by kind", labels=["kind"])  # fmt: skip
        for kind, (last, total) in service.matching_times().items():
            matched.add_metric([kind], last)
            spent.add_metric([kind], total)
        yield from (leases, loops, limited, lag, matched, spent)
        if IMPORTS in self._app:
            yield from self._imports()

    def _imports(self) -> Iterator[Metric]:
        imports = self._app[IMPORTS]
        queue = GaugeMetricFamily("hqx_uploads", "Uploaded archives by state, all processes",
                                  labels=["state"])  # fmt: skip
        held = imports.queue.counts()
        for state in UploadState:
            queue.add_metric([str(state)], held.get(state, 0))
        done = GaugeMetricFamily("hqx_imports", "Archives this process read, imported or "
                                 "refused since it started", labels=["outcome"])  # fmt: skip
        for outcome in ("read", "done", "failed"):
            done.add_metric([outcome], getattr(imports.counts, outcome))
        yield from (queue, done)
        yield GaugeMetricFamily("hqx_imports_seconds", "Time this process spent reading and "
                                "importing archives, all together",
                                value=imports.counts.seconds)  # fmt: skip


def _aware(moment: datetime) -> datetime:
    """An aggregate's time as the database hands it back (SQLite's is naive, in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def setup(app: web.Application) -> None:
    """``/metrics`` on ``app``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(app))
    app[METRICS] = registry
    app.add_routes([web.get("/metrics", _metrics)])


async def _metrics(request: web.Request) -> web.Response:
    exposed = await asyncio.to_thread(generate_latest, request.app[METRICS])
    return web.Response(body=exposed, headers={"Content-Type": CONTENT_TYPE_LATEST})
