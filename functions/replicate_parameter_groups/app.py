"""Step 4a: before the restore, recreate the source's custom cluster and instance parameter groups in the target
(read with the source's role, created with the target's); the restore and the instances attach them."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import SourceConfiguration, lambda_entry, required_field
from aurora_ferry.migration import TargetEvent, replicate_parameter_groups


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = TargetEvent.parse(event)
    return replicate_parameter_groups(
        parsed.run.request,
        parsed.target,
        parsed.run.run_id,
        SourceConfiguration.from_json(required_field(event, "configuration")),
    )
