"""Step 2: a copy the run owns, encrypted with the share key (skipped when it already is one)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.migration import SnapshotEvent, prepare_shareable_snapshot


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = SnapshotEvent.parse(event)
    return prepare_shareable_snapshot(parsed.run.request, parsed.run.run_id, parsed.snapshot).to_json()
