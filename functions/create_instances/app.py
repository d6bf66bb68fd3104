"""Step 4c: create the requested instances once the restored cluster is available."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.migration import TargetEvent, create_instances


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = TargetEvent.parse(event)
    cluster_id = event.get("clusterIdentifier")
    return create_instances(
        parsed.run.request,
        parsed.target,
        parsed.run.run_id,
        str(event["engine"]),
        str(cluster_id) if cluster_id else None,
    )
