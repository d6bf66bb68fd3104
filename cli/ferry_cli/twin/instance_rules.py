"""Aurora instance rules in the twin that moto does not model, for the instances a run mirrors from its source
(aurora_ferry.core.instance_plan): Serverless v2 instances, Performance Insights and Enhanced Monitoring.

- A ``db.serverless`` instance needs its cluster's capacity range first: "If you have an Aurora cluster, you must
  set this attribute [ServerlessV2ScalingConfiguration] before you add a DB instance that uses the db.serverless DB
  instance class"
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-rds-dbcluster-serverlessv2scalingconfiguration.html,
  which points to "Clusters that use Aurora Serverless v2 must have a capacity range specified" in
  https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.requirements.html). RDS
  refuses CreateDBInstance with InvalidParameterCombination and the message below (as RDS reports it; the API
  reference lists the code, not the message).
- Performance Insights: moto takes EnablePerformanceInsights, PerformanceInsightsKMSKeyId and
  PerformanceInsightsRetentionPeriod and drops them, so the twin keeps them and DescribeDBInstances reads them back.
  "PerformanceInsightsRetentionPeriod ... Valid Values: 7, month * 31, where month is a number of months from 1-23,
  731 ... Default: 7 days. If you specify a retention period that isn't valid, such as 94, Amazon RDS returns an
  error" (InvalidParameterValue), and "The KMS key identifier ... If you don't specify a value for
  PerformanceInsightsKMSKeyId, then Amazon RDS uses your default KMS key"
  (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html). KMS keys are regional
  and RDS uses the key for the caller, as for a cluster's storage key: a key of another Region, or one the
  caller's account may not use, is KMSKeyNotAccessibleFault (ferry_cli.twin.kms.check_key_usable). The caller's
  own permissions on the key are the IAM evaluator's (ferry_cli.twin.iam.actions, CreateDBInstance).
- Enhanced Monitoring: moto itself refuses a MonitoringInterval other than 0 without MonitoringRoleArn, and the
  reverse, with InvalidParameterCombination as RDS does ("If MonitoringInterval is set to a value other than 0,
  then you must supply a MonitoringRoleArn value", same page). The role must be one RDS can assume: the
  Enhanced Monitoring guide has it trust monitoring.rds.amazonaws.com
  (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Monitoring.OS.Enabling.html), and RDS refuses
  a role it cannot use with InvalidParameterValue (the message below is the one RDS reports). Passing it needs
  iam:PassRole, which the IAM evaluator checks.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import unquote

from moto.iam.models import iam_backends
from moto.rds.exceptions import InvalidParameterCombination, InvalidParameterValue

from ferry_cli.twin.kms import CREATE_WITH_KEY_ACTIONS, check_key_usable, default_rds_key_arn
from ferry_cli.twin.lifecycle import RdsRulesBase

__all__ = ["PI_RETENTION_DAYS", "InstanceRules"]

SERVERLESS = "db.serverless"
PI_RETENTION_DAYS = frozenset({7, *(month * 31 for month in range(1, 24)), 731})
DEFAULT_PI_RETENTION = 7
MONITORING_SERVICE = "monitoring.rds.amazonaws.com"


class InstanceRules(RdsRulesBase):
    """CreateDBInstance's Serverless v2, Performance Insights and Enhanced Monitoring rules (module docstring),
    before the cluster family makes the instance (ferry_cli.twin.clusters)."""

    replaces: ClassVar[tuple[str, ...]] = ("create_db_instance",)

    def create_db_instance(self, backend: Any, db_kwargs: dict[str, Any]) -> Any:
        kwargs = dict(db_kwargs)
        cluster = backend.clusters.get(kwargs.get("db_cluster_identifier") or "")
        if kwargs.get("db_instance_class") == SERVERLESS and cluster is not None:
            scaling = getattr(cluster, "serverless_v2_scaling_configuration", None)
            if not scaling or not scaling.get("MaxCapacity"):
                raise InvalidParameterCombination(
                    "Set the Serverless v2 scaling configuration on the parent DB cluster before creating a "
                    "Serverless v2 DB instance."
                )
        insights = _performance_insights(backend, kwargs)
        role = kwargs.get("monitoring_role_arn")
        if role and int(kwargs.get("monitoring_interval") or 0):
            _require_monitoring_role(backend, str(role))
        parent: Any = super()
        database = parent.create_db_instance(backend, kwargs)
        for name, value in insights.items():
            setattr(database, name, value)
        return database


def _performance_insights(backend: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Takes the Performance Insights parameters out of ``kwargs`` (moto would drop them) and returns what the
    instance answers DescribeDBInstances with."""
    enabled = bool(kwargs.pop("enable_performance_insights", False))
    key = kwargs.pop("performance_insights_kms_key_id", None)
    retention = kwargs.pop("performance_insights_retention_period", None)
    if not enabled:
        return {"performance_insights_enabled": False}
    if retention is not None and int(retention) not in PI_RETENTION_DAYS:
        raise InvalidParameterValue(
            f"Invalid Performance Insights retention period: {retention}. Valid values are 7, month * 31 "
            "(month 1-23) and 731."
        )
    if key:
        check_key_usable(
            str(key), backend.account_id, backend.region_name, "Performance Insights", CREATE_WITH_KEY_ACTIONS
        )
        key = backend._validate_kms_key(str(key))
    return {
        "performance_insights_enabled": True,
        "performance_insights_kms_key_id": key
        or default_rds_key_arn(backend.account_id, backend.region_name),
        "performance_insights_retention_period": int(retention or DEFAULT_PI_RETENTION),
    }


def _require_monitoring_role(backend: Any, role_arn: str) -> None:
    """The monitoring role exists in its account and trusts RDS's monitoring service."""
    parts = role_arn.split(":")
    account = parts[4] if len(parts) > 5 else backend.account_id
    name = role_arn.rsplit("/", 1)[-1]
    iam = iam_backends[account][parts[1] if len(parts) > 5 else "aws"]
    role = next((r for r in iam.roles.values() if r.name == name and r.arn == role_arn), None)
    trusted = role is not None and MONITORING_SERVICE in _trusted_services(role.assume_role_policy_document)
    if not trusted:
        raise InvalidParameterValue(
            "IAM role ARN value is invalid or does not include the required permissions for: ENHANCED_MONITORING"
        )


def _trusted_services(document: Any) -> set[str]:
    policy = json.loads(unquote(document)) if isinstance(document, str) else dict(document or {})
    statements = policy.get("Statement", [])
    services: set[str] = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        service = (statement.get("Principal") or {}).get("Service", [])
        services.update([service] if isinstance(service, str) else service)
    return services
