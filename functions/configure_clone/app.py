"""Clone step 3a: the clone gets the source's settings that only ModifyDBCluster takes (README "Carried
settings")."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.clone import CloneSourceEvent, configure_clone
from aurora_ferry.core import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = CloneSourceEvent.parse(event)
    return configure_clone(parsed.run.request, parsed.run.run_id, parsed.source)
