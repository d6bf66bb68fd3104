"""The least twin time in which concurrent migrations can end, given Aurora's limit on snapshot copies.

Aurora runs at most five cluster snapshot copies in progress per destination Region and account
(MAX_COPIES_IN_PROGRESS, enforced by the twin); everything else a migration waits for (the source snapshot,
the restore, the instances) runs for every migration at once. A migration of one target is a chain:

    snapshot create S -> share copy C (source account) -> [target copy C (target account)] -> restore R
    -> instances I

All runs start at 0. Each copy stage is a list schedule on `slots` slots: a copy starts at the later of
its release (the end of the run's previous stage) and the earliest free slot, in release order. With equal
copy durations that order finishes every k-th copy as early as any schedule can (P | r_j, p_j = p | C_max),
so the schedule below is a lower bound, not an estimate. With n runs released together it comes to

    bound = S + (ceil(n / slots) + t) * C + R + I,   t = 1 if the path copies in the target account, else 0

(the target copies pipeline behind the share copies: batch b of target copies runs while batch b + 1 of share
copies does). Detection delays, Lambda time and the queue's retry interval are not in it: they are what a
run spends above the bound.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence


def copy_ends(releases: Sequence[float], duration: float, slots: int) -> list[float]:
    """When each copy ends, in release order, if each starts as soon as it is released and a slot is free."""
    if slots < 1:
        raise ValueError(f"slots must be at least 1, got {slots}")
    free = [0.0] * slots
    ends = []
    for release in sorted(releases):
        start = max(release, heapq.heappop(free))
        ends.append(start + duration)
        heapq.heappush(free, start + duration)
    return ends


def lower_bound(
    runs: int,
    slots: int,
    snapshot_create: float,
    snapshot_copy: float,
    cluster_restore: float,
    instance_create: float,
    target_copies: bool,
) -> float:
    """Twin seconds from the common start to the last of `runs` one-target migrations (one source account,
    one target account) having its cluster and instances available."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    created = [snapshot_create] * runs
    ready = copy_ends(created, snapshot_copy, slots)
    if target_copies:
        ready = copy_ends(ready, snapshot_copy, slots)
    return max(ready) + cluster_restore + instance_create


def closed_form(
    runs: int,
    slots: int,
    snapshot_create: float,
    snapshot_copy: float,
    cluster_restore: float,
    instance_create: float,
    target_copies: bool,
) -> float:
    """The module docstring's formula; equal to lower_bound for runs released together (a unit test checks)."""
    batches = -(-runs // slots) + (1 if target_copies else 0)
    return snapshot_create + batches * snapshot_copy + cluster_restore + instance_create


def direct_restore_met(direct_seconds: float, copy_then_restore_seconds: float, copy_seconds: float) -> bool:
    """bench.paths's target: restoring straight from the shared snapshot ends at least one copy duration before
    copying in the target account first (no margin either way: equal paths miss it)."""
    return direct_seconds + copy_seconds <= copy_then_restore_seconds
