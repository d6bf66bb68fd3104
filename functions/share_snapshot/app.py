"""Step 3: share the run's snapshot with the target accounts (restore attribute; never public)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.contract import parse_migration_request
from aurora_ferry.handler import lambda_entry
from aurora_ferry.migration import share_snapshot
from aurora_ferry.snapshots import SnapshotRef


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_migration_request(event.get("input"))
    return share_snapshot(request, SnapshotRef.from_json(event["snapshot"]))
