"""Clone step 2b (cross-account): one look at the share; the target accepts a pending invitation."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone_events import CloneRunEvent
from aurora_ferry.clones import accept_share
from aurora_ferry.errors import PayloadError
from aurora_ferry.events import required_field
from aurora_ferry.handler import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = CloneRunEvent.parse(event)
    share = required_field(event, "share")
    if not isinstance(share, dict) or "resourceShareArn" not in share:
        raise PayloadError(["event.share: must be the object ShareSourceCluster returned"])
    return accept_share(run.request, share, int(event.get("attempt", 0))).to_json()
