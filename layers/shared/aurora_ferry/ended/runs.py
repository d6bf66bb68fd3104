"""A run's execution input as the stack reads it back after the run: a migration's or a clone's (told apart by
the input, as ``ferry validate`` does), and the member accounts the run acts in.

The ended-run cleanup reads the input a status-change event carries; the listing of what the tool left
(``ferry leftovers``) reads the inputs of recent executions. Both go through here, so both read an input
exactly as the run did.
"""

from __future__ import annotations

import json
from typing import Any

from aurora_ferry.clone import CloneRequest, is_clone_input, parse_clone_request
from aurora_ferry.clone import source_access as clone_source_access
from aurora_ferry.clone import target_access as clone_target_access
from aurora_ferry.core import AccountAccess, orchestrator_client
from aurora_ferry.migration import MigrationRequest, parse_migration_request, source_access, target_access

RunRequest = MigrationRequest | CloneRequest


def parse_run_input(raw: Any) -> RunRequest:
    """The validated request of a run's input (an object, or its JSON text): InvalidInputError names every bad
    field; ValueError means the text is not JSON."""
    value = json.loads(raw) if isinstance(raw, str | bytes) else raw
    if is_clone_input(value):
        return parse_clone_request(value)
    return parse_migration_request(value)


def execution_status(execution_arn: str) -> str:
    """The execution's status now, as the orchestrator's Step Functions reports it."""
    return str(orchestrator_client("stepfunctions").describe_execution(executionArn=execution_arn)["status"])


def run_accesses(request: RunRequest) -> list[AccountAccess]:
    """Every member account the run acts in, with the role it assumes there: the source, then each target (for
    a same-account clone, the source once)."""
    if isinstance(request, CloneRequest):
        accesses = [clone_source_access(request), clone_target_access(request)]
    else:
        accesses = [source_access(request), *(target_access(request, t) for t in request.targets)]
    return list(dict.fromkeys(accesses))
