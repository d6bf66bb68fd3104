"""Refresh in place: one check of the swap that gives the new target cluster the replaced cluster's name."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.migration import TargetEvent, swap_step


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = TargetEvent.parse(event)
    return swap_step(parsed.run.request, parsed.target, parsed.run.run_id, int(event.get("attempt") or 0))
