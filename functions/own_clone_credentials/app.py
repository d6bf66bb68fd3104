"""Clone step 3b: the clone gets master credentials of its own (target.masterCredentials)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import CloneRunEvent, own_clone_credentials
from aurora_ferry.core import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = CloneRunEvent.parse(event)
    return own_clone_credentials(run.request, run.run_id)
