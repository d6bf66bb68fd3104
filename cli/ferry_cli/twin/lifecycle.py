"""Rule 1 (lifecycle): Aurora resources take time, and the twin's clock decides when they are ready or gone.

Aurora cluster snapshots, clusters and instances are asynchronous: the API call returns at once with a
``creating`` / ``copying`` status, and the resource becomes ``available`` later. moto makes everything
available immediately (and flips a cluster to available on its first read), so a migration that forgets to
wait would pass in moto and fail in AWS. Deleting a cluster or an instance is asynchronous too: the call
returns with the resource ``deleting``, Describe* keeps showing it so for minutes, and only then does it
answer not found; moto removes it at once. Status values:
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html#Aurora.Status
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html#Overview.DBInstance.Status
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBClusterSnapshot.html (PercentProgress)
A snapshot's ``PercentProgress`` follows the world's :class:`ProgressCurve` while it is created or copied, and
its ``SnapshotCreateTime`` is the twin time it started; the ``Date`` header of every answer is twin time too,
as AWS's clock is in the twin (the copy poll measures elapsed time between the two).

Here: the :class:`TwinRegistry` of tracked resources (on their way to ``available``, or ``deleting`` on their
way out, when a removal given by the rule that deleted them runs), the :class:`Durations` they take, the
:class:`Transition` events they go through, :class:`RdsRulesBase` (what every ``RDSBackend`` rule family
shares: the registry, the durations, reads that first bring statuses up to the twin's time) and
:class:`ClusterStatusRule` (``DBCluster.status`` answers what the registry says).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, ClassVar, Literal, Self
from unittest import mock

from moto.core import responses as moto_responses
from moto.rds.models import DBCluster, RDSBackend

from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.patching import MotoPatch

LOG = logging.getLogger(__name__)

__all__ = [
    "PROGRESS_CURVES",
    "ClusterStatusRule",
    "Durations",
    "PendingResource",
    "ProgressCurve",
    "RdsRulesBase",
    "ResourceKind",
    "Transition",
    "TwinRegistry",
]

ResourceKind = Literal["cluster-snapshot", "cluster", "instance"]


@dataclass(frozen=True)
class ProgressCurve:
    """How a snapshot's ``PercentProgress`` moves while it is created or copied: ``points`` are (share of the
    duration passed, percent), joined by straight lines, from (0, 0) to (1, 100).

    AWS documents PercentProgress as "the percentage of the estimated data that has been transferred", not how it
    moves with time; a copy can wait at 0 % while queued (at most five copies in progress per Region and account)
    and need not move linearly, which is what the copy poll must cope with. The percentage is a whole number,
    truncated, and never 100 before the snapshot is available.
    """

    points: tuple[tuple[float, float], ...] = ((0.0, 0.0), (1.0, 100.0))

    def __post_init__(self) -> None:
        points = self.points
        if len(points) < 2 or points[0] != (0.0, 0.0) or points[-1] != (1.0, 100.0):
            raise ValueError("must start at [0, 0] and end at [1, 100]")
        for (x0, y0), (x1, y1) in pairwise(points):
            if not x0 < x1:
                raise ValueError(f"the shares of the duration must increase ({x0:g} then {x1:g})")
            if not y0 <= y1:
                raise ValueError(f"the percentages must not decrease ({y0:g} then {y1:g})")

    def percent(self, fraction: float) -> int:
        """PercentProgress once `fraction` of the duration has passed (at most 99)."""
        fraction = min(max(fraction, 0.0), 1.0)
        for (x0, y0), (x1, y1) in pairwise(self.points):
            if fraction <= x1:
                return min(99, int(y0 + (y1 - y0) * (fraction - x0) / (x1 - x0)))
        return 99


# The curves a world names ("snapshotProgress"): the same rate throughout; a slow first half (20 % at half time);
# a quarter of the time queued at 0 %, then steady; a fast first half (80 % at half time) and a slow end.
PROGRESS_CURVES: dict[str, ProgressCurve] = {
    "linear": ProgressCurve(),
    "slow-start": ProgressCurve(((0.0, 0.0), (0.5, 20.0), (1.0, 100.0))),
    "queued": ProgressCurve(((0.0, 0.0), (0.25, 0.0), (1.0, 100.0))),
    "slow-finish": ProgressCurve(((0.0, 0.0), (0.5, 80.0), (1.0, 100.0))),
}


@dataclass(frozen=True)
class Durations:
    """How long (in twin seconds) each asynchronous Aurora operation takes in the twin, and how a snapshot's
    PercentProgress moves meanwhile."""

    snapshot_create: float = 600.0
    snapshot_copy: float = 900.0
    cluster_restore: float = 1200.0
    instance_create: float = 600.0
    instance_delete: float = 300.0
    cluster_delete: float = 300.0
    snapshot_progress: ProgressCurve = field(default_factory=ProgressCurve)


@dataclass(frozen=True)
class PendingResource:
    """A resource that is still on its way to ``available``, or ``deleting`` on its way out."""

    kind: ResourceKind
    account_id: str
    region: str
    identifier: str
    status: str
    ready_at: datetime


@dataclass(frozen=True)
class Transition:
    """A tracked resource entering its busy status (``creating``/``copying``/``deleting``), becoming
    ``available``, or, at the end of a deletion, gone (``status`` "deleted", ``busy_status`` "deleting").

    The twin turns these into the RDS events AWS would send (ferry_cli.twin.events); the benchmark reads
    ``ready_at`` (when the resource became available in twin time) from the finished ones.
    """

    kind: ResourceKind
    account_id: str
    region: str
    identifier: str
    arn: str
    status: str
    busy_status: str
    snapshot_type: str | None
    started_at: datetime
    ready_at: datetime


@dataclass
class _Tracked:
    kind: ResourceKind
    resource: Any
    started_at: datetime
    ready_at: datetime
    busy_status: str = "creating"
    # A deletion: what removes the resource from moto once ``ready_at`` has passed (instead of "available").
    remove: Callable[[], None] | None = None
    progress: ProgressCurve = field(default_factory=ProgressCurve)

    def transition(self, status: str) -> Transition:
        resource = self.resource
        return Transition(
            kind=self.kind,
            account_id=str(resource.account_id),
            region=str(resource.region),
            identifier=str(resource.resource_id),
            arn=str(resource.arn),
            status=status,
            busy_status=self.busy_status,
            snapshot_type=getattr(resource, "snapshot_type", None)
            if self.kind == "cluster-snapshot"
            else None,
            started_at=self.started_at,
            ready_at=self.ready_at,
        )


class TwinRegistry:
    """Lifecycle of the resources created while the rules are active (rule 1, in the module docstring)."""

    def __init__(self, clock: TwinClock) -> None:
        self.clock = clock
        # Re-entrant: advance() runs inside patched moto calls that may call each other.
        self._lock = threading.RLock()
        self._tracked: dict[int, _Tracked] = {}
        # Called with every Transition, outside the lock; listeners must not block (they enqueue).
        self._listeners: list[Callable[[Transition], None]] = []
        # Every resource that became available, in order (the benchmark's ready times).
        self.finished: list[Transition] = []
        # Set whenever a new resource is tracked, so a ticker waiting for the next ready time re-plans.
        self.changed = threading.Event()

    def add_listener(self, listener: Callable[[Transition], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Transition], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self, transitions: list[Transition]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for transition in transitions:
            for listener in listeners:
                listener(transition)

    def next_ready_at(self) -> datetime | None:
        """Twin time at which the next tracked resource becomes available or gone (None if nothing is pending)."""
        with self._lock:
            return min((t.ready_at for t in self._tracked.values()), default=None)

    def copies_in_progress(self, account_id: str, region: str) -> int:
        """Cluster snapshot copies ("copying") the account has in progress in the Region."""
        with self._lock:
            return sum(
                1
                for t in self._tracked.values()
                if t.kind == "cluster-snapshot"
                and t.busy_status == "copying"
                and t.resource.account_id == account_id
                and t.resource.region == region
            )

    def track(
        self,
        kind: ResourceKind,
        resource: Any,
        busy_status: str,
        duration: float,
        progress: ProgressCurve | None = None,
    ) -> None:
        """Put ``resource`` in ``busy_status`` until ``duration`` twin seconds have passed; a snapshot's
        PercentProgress follows ``progress`` (linear by default) and it was created now in twin time."""
        with self._lock:
            now = self.clock.now()
            ready_at = now + timedelta(seconds=max(0.0, duration))
            if kind == "instance":
                # AWS finishes an Aurora instance only once its cluster is available; keep it simple
                # and make the instance ready at the later of the two ready times.
                cluster_ready = self.ready_at(getattr(resource, "cluster", None))
                if cluster_ready is not None and cluster_ready > ready_at:
                    ready_at = cluster_ready
            self._set_status(kind, resource, busy_status)
            if kind == "cluster-snapshot":
                resource.percent_progress = 0
                # moto stamps SnapshotCreateTime with the real time (naive UTC); the twin's RDS runs on twin time.
                resource.created = now.replace(tzinfo=None)
            tracked = _Tracked(
                kind, resource, now, ready_at, busy_status, progress=progress or ProgressCurve()
            )
            self._tracked[id(resource)] = tracked
            started = tracked.transition(busy_status)
        self.changed.set()
        self._notify([started])

    def track_deletion(
        self, kind: Literal["cluster", "instance"], resource: Any, duration: float, remove: Callable[[], None]
    ) -> None:
        """Put ``resource`` in "deleting" until ``duration`` twin seconds have passed, then call ``remove`` (which
        takes it out of moto) and announce it "deleted". A resource still being created is deleted instead:
        it never becomes available."""
        with self._lock:
            now = self.clock.now()
            ready_at = now + timedelta(seconds=max(0.0, duration))
            if kind == "cluster":
                # A cluster is removed only after the instances being deleted with it are gone (AWS refuses
                # to delete a cluster while it has an instance that is not being deleted).
                ready_at = max(
                    [ready_at]
                    + [
                        t.ready_at
                        for t in self._tracked.values()
                        if t.kind == "instance" and t.remove is not None and t.resource.cluster is resource
                    ]
                )
            self._set_status(kind, resource, "deleting")
            tracked = _Tracked(kind, resource, now, ready_at, "deleting", remove)
            self._tracked[id(resource)] = tracked
            started = tracked.transition("deleting")
        self.changed.set()
        self._notify([started])

    def is_deleting(self, resource: Any) -> bool:
        """Whether ``resource`` is being deleted (tracked, on its way out)."""
        with self._lock:
            tracked = None if resource is None else self._tracked.get(id(resource))
            return tracked is not None and tracked.remove is not None

    def is_tracked(self, resource: Any) -> bool:
        with self._lock:
            return resource is not None and id(resource) in self._tracked

    def ready_at(self, resource: Any) -> datetime | None:
        """Twin time at which a tracked resource becomes available (None if not in progress)."""
        if resource is None:
            return None
        with self._lock:
            tracked = self._tracked.get(id(resource))
            return None if tracked is None else tracked.ready_at

    def fail(self, resource: Any, status: str = "failed") -> bool:
        """End a creation in progress in ``status`` instead of "available"; whether one was in progress."""
        with self._lock:
            tracked = None if resource is None else self._tracked.get(id(resource))
            if tracked is None or tracked.remove is not None:
                return False
            self._tracked.pop(id(resource))
            self._set_status(tracked.kind, resource, status)
            ended = tracked.transition(status)
        self._notify([ended])
        return True

    def forget(self, resource: Any) -> None:
        with self._lock:
            self._tracked.pop(id(resource), None)

    def advance(self) -> None:
        """Make every resource whose ready time has passed available, or remove it if it was being deleted;
        update snapshot progress."""
        finished_now: list[Transition] = []
        gone_now: list[Transition] = []
        with self._lock:
            now = self.clock.now()
            for key, tracked in sorted(self._tracked.items(), key=lambda item: _order(item[1])):
                if not _still_exists(tracked):
                    self._tracked.pop(key, None)
                    continue
                if tracked.remove is not None:
                    if now >= tracked.ready_at:
                        self._tracked.pop(key, None)
                        if _remove(tracked):
                            gone_now.append(tracked.transition("deleted"))
                    continue
                cluster = getattr(tracked.resource, "cluster", None) if tracked.kind == "instance" else None
                if now >= tracked.ready_at and not self.is_tracked(cluster):
                    self._finish(tracked)
                    self._tracked.pop(key, None)
                    finished_now.append(tracked.transition("available"))
                elif tracked.kind == "cluster-snapshot":
                    total = (tracked.ready_at - tracked.started_at).total_seconds()
                    done = (now - tracked.started_at).total_seconds()
                    # The world's curve, never 100 before the snapshot is actually available.
                    tracked.resource.percent_progress = (
                        tracked.progress.percent(done / total) if total > 0 else 99
                    )
            self.finished.extend(finished_now)
        if finished_now or gone_now:
            self._notify(finished_now + gone_now)

    def settle_all(self) -> None:
        """Make everything available (or gone, if being deleted) now (world setup: the starting estate is
        already built)."""
        with self._lock:
            for tracked in sorted(self._tracked.values(), key=_order):
                if tracked.remove is not None:
                    if _still_exists(tracked):
                        _remove(tracked)
                else:
                    self._finish(tracked)
            self._tracked.clear()

    def pending(self) -> list[PendingResource]:
        """What is still in progress, soonest first."""
        self.advance()
        with self._lock:
            items = [
                PendingResource(
                    kind=t.kind,
                    account_id=t.resource.account_id,
                    region=t.resource.region,
                    identifier=t.resource.resource_id,
                    status=_get_status(t.kind, t.resource),
                    ready_at=t.ready_at,
                )
                for t in self._tracked.values()
            ]
        return sorted(items, key=lambda p: (p.ready_at, p.kind, p.identifier))

    @staticmethod
    def _finish(tracked: _Tracked) -> None:
        TwinRegistry._set_status(tracked.kind, tracked.resource, "available")
        if tracked.kind == "cluster-snapshot":
            tracked.resource.percent_progress = 100

    @staticmethod
    def _set_status(kind: ResourceKind, resource: Any, status: str) -> None:
        if kind == "cluster":
            # Bypass DBCluster.status: it is a property (patched while the rules are active).
            resource._status = status
        else:
            resource.status = status


def _order(tracked: _Tracked) -> int:
    """The order of one pass: creations first, clusters before their instances (so that these can finish in
    the same pass); then deletions, instances before their clusters (moto refuses to remove a cluster that
    still has instances)."""
    if tracked.remove is None:
        return {"cluster": 0, "cluster-snapshot": 1, "instance": 2}[tracked.kind]
    return {"instance": 3, "cluster-snapshot": 4, "cluster": 5}[tracked.kind]


def _remove(tracked: _Tracked) -> bool:
    """The end of a deletion; whether the resource is gone. A removal that fails is a twin bug: logged, and the
    resource is left as it is (still "deleting", so a wait for it to go runs out) rather than failing whichever
    call advanced time."""
    assert tracked.remove is not None
    try:
        tracked.remove()
    except Exception:
        LOG.exception("twin: could not remove the deleted %s %s", tracked.kind, tracked.resource.resource_id)
        return False
    return True


def _get_status(kind: ResourceKind, resource: Any) -> str:
    return str(resource._status if kind == "cluster" else resource.status)


def _still_exists(tracked: _Tracked) -> bool:
    """Deleted resources drop out of the registry instead of lingering in pending()."""
    resource = tracked.resource
    backend = resource.backend
    store: Any = {
        "cluster-snapshot": backend.cluster_snapshots,
        "cluster": backend.clusters,
        "instance": backend.databases,
    }[tracked.kind]
    return bool(store.get(resource.resource_id) is resource)


class RdsRulesBase(MotoPatch):
    """What every family of ``RDSBackend`` rules shares; the families are mixins of one patch class.

    ``advance_first`` names backend methods that keep moto's behaviour but first bring every tracked
    resource up to the twin's time, so that every read and every state-dependent call sees statuses as of now.
    """

    target = RDSBackend
    advance_first: ClassVar[tuple[str, ...]] = ()

    def __init__(self, registry: TwinRegistry, durations: Durations) -> None:
        super().__init__()
        self.registry = registry
        self.durations = durations

    def replacements(self) -> dict[str, Any]:
        return {**super().replacements(), **{name: self._advancing(name) for name in self.advance_first}}

    @contextmanager
    def installed(self) -> Iterator[Self]:
        """Also answer with the twin's time in every response's ``Date`` header, which moto stamps with the real
        time: AWS's clock in the twin is the twin's (rule 1 in the module docstring)."""
        with super().installed() as rules, mock.patch.object(moto_responses, "utcnow", self._utcnow):
            yield rules

    def _utcnow(self) -> datetime:
        # Naive UTC, as moto's own utcnow.
        return self.registry.clock.now().replace(tzinfo=None)

    def _advancing(self, name: str) -> Callable[..., Any]:
        def replacement(backend: Any, *args: Any, **kwargs: Any) -> Any:
            self.registry.advance()
            return self.original(name)(backend, *args, **kwargs)

        replacement.__name__ = name
        return replacement


class ClusterStatusRule(MotoPatch):
    """Rule 1: ``DBCluster.status`` flips "creating" to "available" on its first read in moto.

    In the twin the registry decides; clusters that the twin did not create keep moto's behaviour.
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html#Aurora.Status
    """

    target = DBCluster

    def __init__(self, registry: TwinRegistry) -> None:
        super().__init__()
        self.registry = registry

    def replacements(self) -> dict[str, Any]:
        return {"status": property(self.status, self.set_status)}

    def status(self, cluster: Any) -> str:
        if cluster._status == "creating" and not self.registry.is_tracked(cluster):
            cluster._status = "available"
            return "creating"
        return str(cluster._status)

    @staticmethod
    def set_status(cluster: Any, value: str) -> None:
        cluster._status = value
