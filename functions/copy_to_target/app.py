"""Step 4a: in a target account, copy the shared snapshot by ARN, re-encrypted with the target key (or, when
the target restores straight from the shared snapshot, only check its name)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import SnapshotRef, lambda_entry
from aurora_ferry.migration import TargetEvent, copy_shared_snapshot, restores_from_share, target_access


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = TargetEvent.parse(event)
    shared = SnapshotRef.from_json(event["shared"])
    copy = copy_shared_snapshot(parsed.run.request, parsed.target, parsed.run.run_id, shared)
    return {
        "snapshot": copy.to_json(),
        "access": target_access(parsed.run.request, parsed.target).to_json(),
        "direct": restores_from_share(parsed.run.request, parsed.target),
    }
