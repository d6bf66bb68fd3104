"""What the CLI's commands on the deployed stack share: its CloudFormation outputs, and AWS's errors in one line."""

from __future__ import annotations

from typing import Any

__all__ = ["aws_error", "stack_outputs"]


def aws_error(error: Any) -> str:
    """A botocore ClientError as its code and message."""
    details = error.response.get("Error", {})
    return f"{details.get('Code', 'Error')}: {details.get('Message', error)}"


def stack_outputs(cloudformation: Any, stack: str, failure: type[Exception]) -> dict[str, str]:
    """The stack's outputs by key (none for a stack without outputs); a refused or failed DescribeStacks raises
    `failure` (the command's own error) naming the stack."""
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack).get("Stacks", [])
    except ClientError as error:
        raise failure(f"stack {stack}: {aws_error(error)}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs", []) if stacks else [])}
