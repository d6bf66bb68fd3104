"""One look at a snapshot, cluster or set of instances, for the state machine's bounded wait loops."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import PollEvent, lambda_entry, poll_cluster, poll_instances, poll_snapshot
from aurora_ferry.waits import next_poll_delay


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    poll = PollEvent.parse(event)
    if poll.kind == "snapshot":
        result = poll_snapshot(poll.access, poll.identifiers[0], poll.attempt)
    elif poll.kind == "cluster":
        result = poll_cluster(poll.access, poll.identifiers[0], poll.attempt)
    else:
        result = poll_instances(poll.access, poll.identifiers, poll.attempt)
    # The loop's Wait state sleeps $.poll.nextDelaySeconds; "adaptive" rides along for the next check. A
    # snapshot's progress lets an adaptive wait check near the end it predicts (aurora_ferry.waits.backoff).
    delay = next_poll_delay(
        result.attempt,
        poll.interval_seconds,
        poll.adaptive,
        percent=result.percent_progress,
        elapsed_seconds=result.elapsed_seconds,
    )
    return {**result.to_json(), "adaptive": poll.adaptive, "nextDelaySeconds": delay}
