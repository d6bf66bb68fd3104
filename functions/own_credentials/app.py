"""Step 4b': the restored cluster gets master credentials of its own (targets[].masterCredentials)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.migration import TargetEvent, own_credentials


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = TargetEvent.parse(event)
    return own_credentials(parsed.run.request, parsed.target, str(event["clusterIdentifier"]))
