"""Step 4c: once the restored cluster is available, apply the carried settings only ModifyDBCluster takes."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import SourceConfiguration, lambda_entry, required_field
from aurora_ferry.migration import TargetEvent, configure_cluster


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = TargetEvent.parse(event)
    return configure_cluster(
        parsed.run.request,
        parsed.target,
        SourceConfiguration.from_json(required_field(event, "configuration")),
        str(required_field(event, "clusterIdentifier")),
        str(required_field(event, "engine")),
    )
