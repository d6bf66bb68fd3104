"""Read-only preflight: KMS, sharing, quota and naming checks before the run changes anything."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.migration import RunEvent
from aurora_ferry.preflight import run_preflight


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = RunEvent.parse(event)
    report = run_preflight(run.request, run.run_id)
    report.raise_for_errors()
    return report.to_json()
