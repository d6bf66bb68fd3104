"""Refresh: delete the replaced dev cluster's instances, then the cluster (only if tagged managed)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import RetireEvent, retire_clusters, retire_instances
from aurora_ferry.core import PayloadError, lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = RetireEvent.parse(event)
    if parsed.action == "delete-instances":
        return retire_instances(parsed.run.request, parsed.clusters, parsed.run.run_id)
    if parsed.action == "delete-clusters":
        return retire_clusters(parsed.run.request, parsed.clusters, parsed.run.run_id)
    raise PayloadError([f"event.action: {parsed.action} is KeepCloneNameFunction's, not this function's"])
