"""Step 3b: for a target that copies in two steps (options.crossRegionCopy "two-step"), the source account's copy
of the share copy in the target's Region; for any other target, nothing."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import SnapshotRef, lambda_entry
from aurora_ferry.migration import TargetEvent, copy_to_region


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = TargetEvent.parse(event)
    share = SnapshotRef.from_json(event["shared"])
    copied = copy_to_region(parsed.run.request, parsed.target, parsed.run.run_id, share)
    if copied is None:
        return {"twoStep": False, "summary": {}}
    snapshot, access = copied
    # "summary": what the run's summary reads, an object either way (the target's result always carries it).
    return {
        "twoStep": True,
        "summary": {"arn": snapshot.arn},
        "snapshot": snapshot.to_json(),
        "access": access.to_json(),
    }
