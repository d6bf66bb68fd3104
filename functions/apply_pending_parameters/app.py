"""Step 5b: the target's instances whose parameter group waits for a reboot are rebooted (README "Parameter
groups")."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry, required_field
from aurora_ferry.migration import TargetEvent, apply_pending_parameters


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = TargetEvent.parse(event)
    return apply_pending_parameters(
        parsed.run.request, parsed.target, str(required_field(event, "clusterIdentifier"))
    )
