"""Step 4b: restore the target cluster from its copy (a restore creates no instances), with the source's
configuration the restore takes."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import SnapshotRef, SourceConfiguration, lambda_entry, required_field
from aurora_ferry.migration import TargetEvent, restore_cluster


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = TargetEvent.parse(event)
    configuration = SourceConfiguration.from_json(required_field(event, "configuration"))
    copy = SnapshotRef.from_json(event["copy"])
    return restore_cluster(
        parsed.run.request,
        parsed.target,
        parsed.run.run_id,
        copy,
        configuration,
        event.get("parameterGroups"),
    )
