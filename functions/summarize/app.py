"""Step 6: the run summary on success, a readable error and cause for the Fail state, or (a parked run) the
RunParkedError that waits for a redrive."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.migration import await_redrive, summarize_failure, summarize_success


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = event.get("state") or {}
    if event.get("outcome") == "succeeded":
        return summarize_success(state, str(event.get("finishedAt", "")))
    if event.get("outcome") == "parked":
        return await_redrive(state, int(event.get("redriveCount") or 0))
    return summarize_failure(state)
