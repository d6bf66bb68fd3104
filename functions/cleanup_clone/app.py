"""Clone cleanup: delete this run's RAM share; after a failure, report what the run left in place."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import CloneRunEvent, cleanup_clone_run
from aurora_ferry.core import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = CloneRunEvent.parse(event)
    return cleanup_clone_run(run.request, run.run_id, failed=bool(event.get("failed", False)))
