"""Clone step 4b: the clone's instances whose parameter group waits for a reboot are rebooted (README "Parameter
groups")."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import CloneRunEvent, apply_clone_pending_parameters
from aurora_ferry.core import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = CloneRunEvent.parse(event)
    return apply_clone_pending_parameters(run.request, run.run_id)
