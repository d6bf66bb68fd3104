"""Clone summary on success, or a readable error and cause for the CloneFailed state."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import summarize_clone_failure, summarize_clone_success
from aurora_ferry.core import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = event.get("state") or {}
    if event.get("outcome") == "succeeded":
        return summarize_clone_success(state, str(event.get("finishedAt", "")))
    return summarize_clone_failure(state)
