"""Clone step 2a (cross-account): the owner shares the source cluster with the target through AWS RAM."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import CloneSourceEvent, share_source_cluster
from aurora_ferry.core import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = CloneSourceEvent.parse(event)
    return share_source_cluster(parsed.run.request, parsed.run.run_id, parsed.source.arn)
