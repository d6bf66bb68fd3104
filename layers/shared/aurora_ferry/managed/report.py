"""``ferry leftovers``: everything aurora-ferry left in the member accounts, read-only, in one small result.

``{"resources": [...], "accounts": [...], "errors": [...], "shared": N}``: one row per resource tagged
``aurora-ferry:managed=true`` (account, Region, kind, identifier, ARN, run id, purpose, creation time and age,
status; for snapshots and RAM shares the accounts they are shared with, and for a snapshot the leftover table
still means to delete, when it gives up), one per account read, one per failure (an account whose role cannot
be assumed or read is named with AWS's error code, and the others are still listed), and the number of
resources shared with any account. Rows are sorted, so two listings of the same accounts compare line by line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aurora_ferry.core import logger, resource_key
from aurora_ferry.managed.listing import read_account
from aurora_ferry.managed.reach import Reaches, add_recent_runs, state_machine_arns
from aurora_ferry.managed.request import ListManagedRequest
from aurora_ferry.managed.rows import READ_ERRORS, error_order, error_row, resource_order
from aurora_ferry.migration import LeftoverStore


def list_managed_resources(
    request: ListManagedRequest,
    *,
    function_arn: str,
    leftovers: LeftoverStore | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """List what the tool left in the accounts of the runs of the last ``request.since_days`` days, of the
    inputs the request names, and of the leftover table's rows. ``function_arn`` (the function's own) places
    the stack's state machines; ``leftovers`` is the stack's leftover table, if it is read."""
    now = now or datetime.now(UTC)
    errors: list[dict[str, Any]] = []
    reaches = Reaches()
    for run in request.inputs:
        reaches.add_run(run)
    executions = add_recent_runs(
        reaches, state_machine_arns(function_arn), now - timedelta(days=request.since_days), errors
    )
    pending = _pending_deletions(leftovers, reaches, function_arn, errors)
    resources: list[dict[str, Any]] = []
    accounts: list[dict[str, Any]] = []
    for reach in reaches:
        rows, failures = read_account(reach, now)
        for row in rows:
            if row["kind"] == "snapshot":
                key = resource_key(row["accountId"], row["region"], "cluster-snapshot", row["identifier"])
                if key in pending:
                    row["pendingDeletion"] = {"retryUntil": pending[key]}
        resources += rows
        errors += failures
        access = reach.access
        accounts.append(
            {
                "accountId": access.account_id,
                "region": access.region,
                "roleArn": access.role_arn,
                "resources": len(rows),
                "errors": len(failures),
            }
        )
    resources.sort(key=resource_order)
    accounts.sort(key=lambda a: (a["accountId"], a["region"], a["roleArn"]))
    errors.sort(key=error_order)
    shared = sum(1 for row in resources if row.get("sharedWith"))
    logger.info(
        "listed managed resources",
        extra={"executions": executions, "accounts": len(accounts), "resources": len(resources),
               "shared": shared, "errors": len(errors)},
    )  # fmt: skip
    return {"resources": resources, "accounts": accounts, "errors": errors, "shared": shared}


def _pending_deletions(
    leftovers: LeftoverStore | None, reaches: Reaches, function_arn: str, errors: list[dict[str, Any]]
) -> dict[str, str]:
    """The leftover table's rows (snapshots a failed run could not delete yet), by resource key, with the time
    the scheduled retry gives up; their accounts are read too."""
    if leftovers is None:
        return {}
    pending: dict[str, str] = {}
    try:
        for leftover in leftovers.scan():
            pending[leftover.key] = leftover.retry_until_iso
            reaches.add(leftover.access)
    except READ_ERRORS as error:
        _, _, _, region, account = function_arn.split(":")[:5]
        errors.append(error_row(account, region, "read the leftover table", error))
    return pending
