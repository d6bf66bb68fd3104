"""Step 4c: create the target's instances (the source's, or as targets[] overrides them) once the restored cluster is
available."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import SourceConfiguration, lambda_entry, required_field
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
        SourceConfiguration.from_json(required_field(event, "configuration")),
        str(cluster_id) if cluster_id else None,
        # The source's instance parameter groups as ReplicateParameterGroups recreated them in the target.
        event.get("parameterGroups"),
    )
