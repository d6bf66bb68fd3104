"""Which member accounts to read: those the runs of the last days acted in (their execution inputs, read back
from Step Functions), those of the inputs the operator names, and those the leftover table names; each once per
(account, Region, role).

https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html ("Results are sorted by
time, with the most recent execution first") and API_DescribeExecution.html (the execution's input).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aurora_ferry.clone import CloneRequest
from aurora_ferry.core import (
    AccountAccess,
    ConfigurationError,
    InvalidInputError,
    logger,
    orchestrator_client,
)
from aurora_ferry.ended import RunRequest, parse_run_input, run_accesses
from aurora_ferry.managed.rows import READ_ERRORS, error_row
from aurora_ferry.migration import MigrationRequest, copy_regions, region_access

# The stack's two state machines, by name (template.yaml); their ARNs follow from the function's own ARN.
STATE_MACHINE_ENVS = ("MIGRATION_STATE_MACHINE_NAME", "CLONE_STATE_MACHINE_NAME")
# Executions read per state machine, newest first: a bound on one invocation's work (and its time).
MAX_EXECUTIONS = 1000
_PAGE = 100


@dataclass
class Reach:
    """One member account to read, the role to read it with, and whether a clone run acted in it (then its
    RAM resource shares are read too), or only made snapshots there (a source's copy in a target's Region,
    options.crossRegionCopy "two-step": the member role reads only snapshots in such a Region)."""

    access: AccountAccess
    clone: bool = False
    snapshots_only: bool = False


class Reaches:
    """The accounts to read, in the order first named, each once per (account, Region, role)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str, str], Reach] = {}

    def add(self, access: AccountAccess, *, clone: bool = False, snapshots_only: bool = False) -> None:
        key = (access.account_id, access.region, access.role_arn)
        known = self._by_key.setdefault(key, Reach(access, clone, snapshots_only))
        known.clone = known.clone or clone
        known.snapshots_only = known.snapshots_only and snapshots_only

    def add_run(self, request: RunRequest) -> None:
        for access in run_accesses(request):
            self.add(access, clone=isinstance(request, CloneRequest))
        if isinstance(request, MigrationRequest):
            for region in copy_regions(request):
                self.add(region_access(request, region), snapshots_only=True)

    def __iter__(self) -> Iterator[Reach]:
        return iter(self._by_key.values())


def state_machine_arns(function_arn: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The ARNs of the stack's state machines, in the function's own partition, Region and account."""
    environ = os.environ if environ is None else environ
    partition, region, account = _arn_parts(function_arn)
    names = [environ.get(name, "") for name in STATE_MACHINE_ENVS]
    if not all(names):
        raise ConfigurationError(
            f"environment: {' and '.join(STATE_MACHINE_ENVS)} must name the state machines"
        )
    return [f"arn:{partition}:states:{region}:{account}:stateMachine:{name}" for name in names]


def _arn_parts(arn: str) -> tuple[str, str, str]:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise ConfigurationError(f"not an ARN: {arn!r}")
    return parts[1], parts[3], parts[4]


def add_recent_runs(
    reaches: Reaches, machine_arns: list[str], since: datetime, errors: list[dict[str, Any]]
) -> int:
    """Add the accounts of every run started since ``since``; the number of executions read. A state machine
    whose executions cannot be read is an error row, and the others are still read."""
    sfn = orchestrator_client("stepfunctions")
    read = 0
    for machine in machine_arns:
        _, region, account = _arn_parts(machine)
        name = machine.rsplit(":", 1)[-1]
        action = f"read the executions of {name}"
        try:
            for number, execution in enumerate(_started_since(sfn, machine, since)):
                if number == MAX_EXECUTIONS:
                    raise TooManyExecutionsError(
                        f"more than {MAX_EXECUTIONS} executions since {since:%Y-%m-%d}; "
                        "the newest were read: ask for fewer days"
                    )
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                read += 1
                _add_input(reaches, described.get("input"), execution["executionArn"])
        except (*READ_ERRORS, TooManyExecutionsError) as error:
            errors.append(error_row(account, region, action, error))
    return read


class TooManyExecutionsError(Exception):
    """More executions than one listing reads."""


def _started_since(sfn: Any, machine: str, since: datetime) -> Iterator[dict[str, Any]]:
    """The state machine's executions started at or after ``since``, newest first."""
    token: str | None = None
    while True:
        params: dict[str, Any] = {"stateMachineArn": machine, "maxResults": _PAGE}
        if token:
            params["nextToken"] = token
        page = sfn.list_executions(**params)
        for execution in page.get("executions", []):
            if execution["startDate"] < since:
                return
            yield execution
        token = page.get("nextToken")
        if not token:
            return


def _add_input(reaches: Reaches, raw: Any, execution_arn: str) -> None:
    if not isinstance(raw, str):
        return
    try:
        request = parse_run_input(raw)
    except (ValueError, InvalidInputError):
        # The run refused its input before making anything: there is nothing of it to find.
        logger.info(
            "skipping an execution whose input the contract refuses", extra={"execution": execution_arn}
        )
        return
    reaches.add_run(request)
