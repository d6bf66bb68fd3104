"""Scheduled: delete the intermediate snapshots failed runs could not delete yet, once AWS allows it."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.migration import retry_leftovers


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(retry_leftovers())
