"""The IAM map's entries for parameter group replication (aurora_ferry.core.parameter_groups), beside
ferry_cli.twin.iam.actions (which imports this module, so that its entries register in OPERATIONS with the rest).

The Service Authorization Reference lists, for each: DescribeDBParameterGroups, DescribeDBParameters,
CreateDBParameterGroup, ModifyDBParameterGroup and DeleteDBParameterGroup on the "pg" resource type;
DescribeDBClusterParameters, CreateDBClusterParameterGroup, ModifyDBClusterParameterGroup and
DeleteDBClusterParameterGroup on "cluster-pg"; the creates with aws:RequestTag and aws:TagKeys (tags given at
creation are authorised again as rds:AddTagsToResource on the new group), the others with aws:ResourceTag.
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/security_iam_id-based-policy-examples-grant-permissions-tags-on-create.html
"""

from __future__ import annotations

from collections.abc import Sequence

from ferry_cli.twin.iam.actions import OPERATIONS, Call, Check, Lookup
from ferry_cli.twin.iam.policy import AuthRequest

_KINDS = {"DBClusterParameterGroupName": "cluster-pg", "DBParameterGroupName": "pg"}
TAG_ON_CREATE = "rds:AddTagsToResource"


def _name_param(call: Call) -> str:
    return "DBClusterParameterGroupName" if "Cluster" in call.operation else "DBParameterGroupName"


def _group_arn(call: Call, kind: str, ref: str | None) -> tuple[str, str]:
    """(ARN, owning account) of a group named by name or ARN; "*" names every group of the kind."""
    if ref and ref.startswith("arn:"):
        return ref, ref.split(":")[4]
    return call.arn("rds", f"{kind}:{ref or '*'}"), call.account_id


def _read(call: Call, lookup: Lookup) -> list[Check]:
    param = _name_param(call)
    arn, owner = _group_arn(call, _KINDS[param], call.str_param(param))
    return [Check(AuthRequest(call.action, arn, {}), owner)]


def _create(call: Call, lookup: Lookup) -> list[Check]:
    param = _name_param(call)
    arn = call.arn("rds", f"{_KINDS[param]}:{call.str_param(param)}")
    tags = {str(t["Key"]): str(t.get("Value", "")) for t in call.params.get("Tags") or [] if "Key" in t}
    context: dict[str, str | Sequence[str]] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    checks = [Check(AuthRequest(call.action, arn, dict(context)), call.account_id)]
    if tags:
        dependent = f"{call.service}:{call.operation}"
        checks.append(
            Check(AuthRequest(TAG_ON_CREATE, arn, dict(context)), call.account_id, dependent_of=dependent)
        )
    return checks


def _change(call: Call, lookup: Lookup) -> list[Check]:
    param = _name_param(call)
    kind = _KINDS[param]
    ref = call.str_param(param)
    facts = lookup.parameter_group(kind, ref or "", call.account_id, call.region)
    arn, owner = (facts.arn, facts.account_id) if facts is not None else _group_arn(call, kind, ref)
    context = {f"aws:ResourceTag/{k}": v for k, v in (facts.tags if facts else {}).items()}
    return [Check(AuthRequest(call.action, arn, context), owner)]


for _operation, _mapper in (
    ("DescribeDBParameterGroups", _read),
    ("DescribeDBParameters", _read),
    ("DescribeDBClusterParameters", _read),
    ("CreateDBClusterParameterGroup", _create),
    ("CreateDBParameterGroup", _create),
    ("ModifyDBClusterParameterGroup", _change),
    ("ModifyDBParameterGroup", _change),
    ("DeleteDBClusterParameterGroup", _change),
    ("DeleteDBParameterGroup", _change),
):
    OPERATIONS[("rds", _operation)] = _mapper
