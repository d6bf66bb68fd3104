"""Clone step 0: checks the clone input contract before any AWS call; returns it normalised with the plan."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import parse_clone_request, plan, source_access, target_access
from aurora_ferry.core import lambda_entry, naming


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_clone_request(event.get("input"))
    run_id = naming.run_id_from_execution_name(str(event.get("executionName") or context.aws_request_id))
    return {
        "input": request.to_json(),
        "runId": run_id,
        "sourceAccess": source_access(request).to_json(),
        "targetAccess": target_access(request).to_json(),
        "plan": plan(request, run_id),
    }
