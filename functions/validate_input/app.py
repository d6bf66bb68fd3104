"""Checks the execution input against the contract before any AWS call; returns it normalised."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry, naming
from aurora_ferry.migration import parse_migration_request, source_access


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_migration_request(event.get("input"))
    return {
        "input": request.to_json(),
        "runId": naming.run_id_from_execution_name(str(event.get("executionName") or context.aws_request_id)),
        "sourceAccess": source_access(request).to_json(),
    }
