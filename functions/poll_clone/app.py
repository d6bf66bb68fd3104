"""One look at the clone, its instances, or what a refresh deletes, for the clone's bounded wait loops."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import ClonePollEvent, poll_gone
from aurora_ferry.core import lambda_entry, poll_cluster, poll_instances


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    poll = ClonePollEvent.parse(event)
    if poll.kind == "cluster":
        return poll_cluster(poll.access, poll.identifiers[0], poll.attempt).to_json()
    if poll.kind == "instances":
        return poll_instances(poll.access, poll.identifiers, poll.attempt).to_json()
    return poll_gone(poll.access, poll.kind, poll.identifiers, poll.attempt).to_json()
