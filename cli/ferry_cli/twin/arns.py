"""RDS ARNs as the twin reads them: another account's snapshot or cluster is named by its full ARN.

``arn:<partition>:rds:<region>:<account>:<resource type>:<identifier>``
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Tagging.ARN.Constructing.html
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["RdsArn", "parse_rds_arn"]

_RDS_ARN_PARTS = 7


class RdsArn(NamedTuple):
    service: str
    region: str
    account: str
    resource_type: str
    identifier: str


def parse_rds_arn(identifier: str | None) -> RdsArn | None:
    """The parts of an ARN with an RDS-shaped resource (``<type>:<id>``); None for a bare identifier."""
    if not identifier or not identifier.startswith("arn:"):
        return None
    parts = identifier.split(":", _RDS_ARN_PARTS - 1)
    if len(parts) < _RDS_ARN_PARTS:
        return None
    return RdsArn(
        service=parts[2], region=parts[3], account=parts[4], resource_type=parts[5], identifier=parts[6]
    )
