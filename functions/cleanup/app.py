"""Step 5: unshare and delete this run's intermediate snapshots, per options.cleanup (or, for a parked run,
unshare and keep them for a redrive)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.migration import LeftoverStore, RunEvent, cleanup


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = RunEvent.parse(event)
    return cleanup(
        run.request,
        run.run_id,
        LeftoverStore.from_environment(),
        park=bool(event.get("park")),
        succeeded=bool(event.get("succeeded")),
        attempt=int(event.get("attempt", 0)),
    )
