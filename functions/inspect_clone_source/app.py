"""Clone step 1: read-only checks; refuses, before any change, every clone AWS would refuse."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import CloneRunEvent, inspect_clone
from aurora_ferry.core import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = CloneRunEvent.parse(event)
    return inspect_clone(run.request, run.run_id)
