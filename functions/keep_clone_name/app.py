"""Refresh with keepName: one check of the swap that gives the new clone the replaced dev cluster's name."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import RetireEvent, keep_name_step
from aurora_ferry.core import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = RetireEvent.parse(event)
    return keep_name_step(
        parsed.run.request, parsed.run.run_id, parsed.clusters, int(event.get("attempt") or 0)
    )
