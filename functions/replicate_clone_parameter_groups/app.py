"""Clone step 2b: before the clone is created, recreate the source's custom cluster and instance parameter groups
in the target account (README "Parameter groups")."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import CloneSourceEvent, replicate_clone_parameter_groups
from aurora_ferry.core import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = CloneSourceEvent.parse(event)
    return replicate_clone_parameter_groups(parsed.run.request, parsed.run.run_id, parsed.source)
