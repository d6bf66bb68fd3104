"""Read-only calls the twin answers itself because moto does not: the IAM policy simulator and RDS quotas.

Preflight makes both on real AWS; answering them here means the tests run preflight's real-AWS path, with the
simulator backed by the same evaluator that authorises the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.rds.models import rds_backends

from ferry_cli.twin.iam.actions import Call
from ferry_cli.twin.iam.policy import AuthRequest, Principal, authorize

if TYPE_CHECKING:
    from ferry_cli.twin.iam.authorizer import Authorizer

# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/CHAP_Limits.html (default quotas)
DEFAULT_QUOTAS = {"DBClusters": 40, "DBInstances": 40, "ManualClusterSnapshots": 100}


class TwinAnswerError(Exception):
    """The service refuses the request itself (not an IAM decision): code and message as AWS sends them."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def answer(authorizer: Authorizer, call: Call) -> dict[str, Any] | None:
    """The twin's answer to the call, or None when moto answers it."""
    if (call.service, call.operation) == ("iam", "SimulatePrincipalPolicy") and authorizer.enabled:
        # Without the twin's IAM there is nothing to simulate: moto's own answer (not implemented) stands.
        return _simulate(authorizer, call)
    if (call.service, call.operation) == ("rds", "DescribeAccountAttributes"):
        return _account_attributes(authorizer, call)
    return None


def _simulate(authorizer: Authorizer, call: Call) -> dict[str, Any]:
    """iam:SimulatePrincipalPolicy for a role: its identity policies, the request context given.

    "CallerArn is required if you include a ResourcePolicy and the PolicySourceArn is not the ARN for an IAM
    user", and CallerArn can only name an IAM user:
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html
    """
    params = call.params
    source = str(params.get("PolicySourceArn", ""))
    if params.get("ResourcePolicy") and not params.get("CallerArn") and ":user/" not in source:
        raise TwinAnswerError(
            "InvalidInput",
            "Invalid Input: CallerArn is required when a ResourcePolicy is given and PolicySourceArn is not an "
            "IAM user.",
        )
    role = authorizer.lookup.role(source)
    if role is None:
        raise TwinAnswerError(
            "NoSuchEntity", f"The role with name {source.rsplit('/', 1)[-1]} cannot be found."
        )
    principal = Principal(arn=str(role.arn), account_id=source.split(":")[4], principal_arn=str(role.arn))
    policies = authorizer.identity_policies(principal)
    context: dict[str, Any] = {}
    for entry in params.get("ContextEntries") or []:
        values = [str(v) for v in entry.get("ContextKeyValues") or []]
        context[str(entry["ContextKeyName"])] = values[0] if len(values) == 1 else values
    results = []
    for action in params.get("ActionNames") or []:
        for resource in params.get("ResourceArns") or ["*"]:
            verdict = authorize(
                principal,
                AuthRequest(str(action), str(resource), context),
                policies,
                None,
                principal.account_id,
            )
            decision = (
                "allowed"
                if verdict.allowed
                else "explicitDeny"
                if "explicit deny" in verdict.reason
                else "implicitDeny"
            )
            results.append(
                {
                    "EvalActionName": str(action),
                    "EvalResourceName": str(resource),
                    "EvalDecision": decision,
                    "MatchedStatements": [],
                    "MissingContextValues": [],
                }
            )
    return {"EvaluationResults": results, "IsTruncated": False}


def _account_attributes(authorizer: Authorizer, call: Call) -> dict[str, Any]:
    """rds:DescribeAccountAttributes: the account's use of each quota, and the world's limits."""
    backend = rds_backends[call.account_id][call.region]
    used = {
        "DBClusters": len(backend.clusters),
        "DBInstances": len(backend.databases),
        "ManualClusterSnapshots": sum(
            1 for snapshot in backend.cluster_snapshots.values() if snapshot.snapshot_type == "manual"
        ),
    }
    limits = {**DEFAULT_QUOTAS, **authorizer.quotas.get(call.account_id, {})}
    return {
        "AccountQuotas": [
            {"AccountQuotaName": name, "Used": used[name], "Max": limits[name]}
            for name in sorted(DEFAULT_QUOTAS)
        ]
    }
