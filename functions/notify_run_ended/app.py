"""After a run ended (SUCCEEDED, FAILED, TIMED_OUT or ABORTED): a readable message on the notification topic."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.ended import notify_run_ended


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return notify_run_ended(event)
