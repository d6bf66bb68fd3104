"""A dev refresh that keeps the dev cluster's name (refresh.keepName): once the new clone is ready and verified,
the cluster under the name is renamed aside and the clone renamed into it, before the refresh retires the old
one (README "Dev refresh"). The renames are core's (aurora_ferry.core.renames), as for a migration's refresh in
place; a failure before the old cluster is retired puts it back (`roll_back_keep_name`, run by the cleanup)."""

from __future__ import annotations

from typing import Any

from aurora_ferry.clone.contract import CloneRequest
from aurora_ferry.clone.names import clone_identifier, target_access
from aurora_ferry.core import found_cluster, naming, rds, roll_back_rename, serving, swap_into_place

__all__ = ["keep_name_step", "roll_back_keep_name"]


def keep_name_step(
    request: CloneRequest, run_id: str, retiring: list[dict[str, str]], attempt: int
) -> dict[str, Any]:
    """One check of the swap: the next rename AWS allows now; once the clone answers under the name, the clone
    as the summary reads it and the refresh's retire list with the old cluster under its aside name."""
    if request.refresh is None or not request.refresh.keep_name:
        raise ValueError("keep_name_step is for a refresh with keepName")
    access = target_access(request)
    client = rds(access)
    name, aside = request.refresh.replaces.lower(), naming.replaced_cluster_id(run_id)
    status, swapped = swap_into_place(client, access, name, clone_identifier(request, run_id), aside, run_id)
    polled = {"attempt": attempt + 1, "ready": swapped is not None, "status": status}
    if swapped is None:
        return polled
    old = found_cluster(client, access, aside)
    return {
        **polled,
        **serving(client, access, swapped),
        # What the refresh retires: the old cluster now under its aside name, never the clone under the name.
        "replaces": [
            {"identifier": aside, "arn": old["DBClusterArn"] if old else entry["arn"]}
            if entry["identifier"] == name
            else entry
            for entry in retiring
        ],
    }


def roll_back_keep_name(request: CloneRequest, run_id: str) -> list[dict[str, Any]]:
    """After a failure before the old dev cluster is retired: it goes back under its name, the clone back under
    its own."""
    if request.refresh is None or not request.refresh.keep_name:
        return []
    access = target_access(request)
    name = request.refresh.replaces.lower()
    return roll_back_rename(rds(access), access, name, clone_identifier(request, run_id), run_id)
