"""A waitForTaskToken state's entry: store its task token per resource, then check the resources at once."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core import lambda_entry
from aurora_ferry.waits import WaitRequest, register_wait


@lambda_entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return register_wait(WaitRequest.parse(event))
