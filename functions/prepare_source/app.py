"""Step 1: a manual snapshot of the source (snapshot the cluster, or copy an automated snapshot), with the source's
configuration, which every target carries."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.migration import RunEvent, prepare_source


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = RunEvent.parse(event)
    return prepare_source(run.request, run.run_id).to_json()
