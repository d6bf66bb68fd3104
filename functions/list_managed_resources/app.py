"""`ferry leftovers`: list, read-only, what aurora-ferry left in the member accounts (invoked by the operator)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.managed import ListManagedRequest, list_managed_resources
from aurora_ferry.migration import LeftoverStore


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return list_managed_resources(
        ListManagedRequest.parse(event),
        function_arn=context.invoked_function_arn,
        leftovers=LeftoverStore.from_environment(),
    )
