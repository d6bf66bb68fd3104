"""Step 6: the run summary on success, or a readable error and cause for the Fail state."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.migration import summarize_failure, summarize_success


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = event.get("state") or {}
    if event.get("outcome") == "succeeded":
        return summarize_success(state, str(event.get("finishedAt", "")))
    return summarize_failure(state)
