"""Clone step 5: the clone is what was asked (CrossAccountClone, encryption key)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import CloneRunEvent, verify_clone
from aurora_ferry.core import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = CloneRunEvent.parse(event)
    return verify_clone(run.request, run.run_id)
