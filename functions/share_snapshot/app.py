"""Step 3: share the run's snapshot with the target accounts (restore attribute; never public)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import SnapshotRef, lambda_entry
from aurora_ferry.migration import parse_migration_request, share_snapshot


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_migration_request(event.get("input"))
    return share_snapshot(request, SnapshotRef.from_json(event["snapshot"]))
