"""After a run that ended FAILED, TIMED_OUT or ABORTED: the cleanup its Catch may not have run."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.ended import ExecutionEnded, clean_up_after, execution_status
from aurora_ferry.migration import LeftoverStore


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return clean_up_after(ExecutionEnded.parse(event), LeftoverStore.from_environment(), execution_status)
