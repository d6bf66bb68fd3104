"""Step 4b: restore the target cluster from its copy (a restore creates no instances)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import SnapshotRef, lambda_entry
from aurora_ferry.migration import TargetEvent, restore_cluster


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = TargetEvent.parse(event)
    return restore_cluster(
        parsed.run.request, parsed.target, parsed.run.run_id, SnapshotRef.from_json(event["copy"])
    )
