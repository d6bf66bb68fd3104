"""Clone step 3: copy-on-write clone in the target account (a cluster with no instances yet)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import CloneSourceEvent, create_clone
from aurora_ferry.core import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = CloneSourceEvent.parse(event)
    return create_clone(
        parsed.run.request,
        parsed.run.run_id,
        parsed.source,
        # What ReplicateCloneParameterGroups gave the target.
        event.get("parameterGroups"),
    )
