"""Clone step 2b (cross-account): one look at the share; the target accepts a pending invitation."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import CloneRunEvent, accept_share
from aurora_ferry.core import PayloadError, lambda_entry, required_field


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = CloneRunEvent.parse(event)
    share = required_field(event, "share")
    if not isinstance(share, dict) or "resourceShareArn" not in share:
        raise PayloadError(["event.share: must be the object ShareSourceCluster returned"])
    return accept_share(run.request, share, int(event.get("attempt", 0))).to_json()
