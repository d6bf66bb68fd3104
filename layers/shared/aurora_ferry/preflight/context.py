"""What every check of the preflight shares: the request, the findings so far, what was learnt about the
source, the member account being checked, and the read-only clients it is checked with."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from aurora_ferry.core import (
    AccountAccess,
    Encryption,
    InstanceShape,
    InvalidInputError,
    SourceConfiguration,
    error_code,
    plan_instances,
    session_client,
)
from aurora_ferry.migration import MigrationRequest, Target
from aurora_ferry.preflight.report import Finding, Severity

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_rds import RDSClient

SourceKind = Literal["cluster", "manual-snapshot", "automated-snapshot"]

RUN_ID_PLACEHOLDER = "<run-id>"
KEY_POLICY_NAME = "default"  # the only policy name KMS supports


@dataclass(frozen=True)
class FoundSource:
    """What the preflight learnt about the source; decides which snapshots the run makes."""

    kind: SourceKind
    identifier: str
    encrypted: bool
    kms_key_id: str | None
    encryption: Encryption
    customer_key_arn: str | None  # set only when DescribeKey showed a customer-managed key
    engine: str
    # The settings the targets carry (core.carry), as the cluster or snapshot shows them.
    configuration: SourceConfiguration | None = None


@dataclass
class Preflight:
    """One preflight in progress: the request it checks and the findings so far."""

    request: MigrationRequest
    run_id: str
    findings: list[Finding] = field(default_factory=list)
    # Set by the source check once the source is found; None while unknown (not found, not readable).
    source: FoundSource | None = None
    # Per target account, the plan's rows for its parameter groups (preflight.parameter_groups).
    parameter_groups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def region(self) -> str:
        return self.request.source.region

    @property
    def partition(self) -> str:
        return self.request.share_kms_key_arn.split(":")[1]

    def add(self, severity: Severity, check: str, account_id: str, resource: str, message: str) -> None:
        self.findings.append(Finding(severity, check, account_id, resource, message))

    def planned_instances(self, target: Target) -> list[InstanceShape]:
        """The instances the run will create in ``target`` (core.instance_plan); while the source's are unknown
        (the source check reports why), what the target gives, else one instance."""
        configuration = self.source.configuration if self.source else None
        try:
            return plan_instances(configuration.instances if configuration else (), target, target.settings)
        except InvalidInputError:
            return [InstanceShape(instance_class="unknown", writer=True)]


@dataclass(frozen=True)
class Account:
    """A member account the preflight reached, through the role the run itself assumes there."""

    access: AccountAccess
    session: boto3.Session


@dataclass(frozen=True)
class TargetAccount(Account):
    """A target account, with its entry (and that entry's index) in the request's targets."""

    index: int
    target: Target


# --- read-only clients, with the run's retry behaviour (short throttling bursts are absorbed) ------------


def rds_client(session: boto3.Session) -> RDSClient:
    client: RDSClient = session_client(session, "rds")
    return client


def kms_client(session: boto3.Session) -> KMSClient:
    client: KMSClient = session_client(session, "kms")
    return client


def untyped_client(session: boto3.Session, service: str) -> Any:
    """iam and ec2 clients, untyped: their stubs are not part of the project's typing dependencies."""
    return session_client(session, service)


def described(describe: Callable[..., Any], listed: str, not_found: str, **params: Any) -> Any:
    """The first resource a Describe call lists under ``listed``, or None when there is none (the call failing
    with the ``not_found`` code); any other error is left to the check's guard."""
    try:
        found = describe(**params)[listed]
    except ClientError as error:
        if error_code(error) != not_found:
            raise
        return None
    return found[0] if found else None


# --- small helpers ------------------------------------------------------------------------------------------


def parse_policy(text: str | None) -> dict[str, Any] | None:
    """A key policy document, or None when it is missing or not a JSON object."""
    if not text:
        return None
    try:
        policy = json.loads(text)
    except ValueError:
        return None
    return policy if isinstance(policy, dict) else None


def same_key(kms_key_id: str | None, key_arn: str) -> bool:
    """Snapshots report their key as an ARN (or, from some APIs, a bare key id)."""
    if not kms_key_id:
        return False
    return kms_key_id == key_arn or kms_key_id.rsplit("/", 1)[-1] == key_arn.rsplit("/", 1)[-1]


def account_of(arn: str) -> str:
    return arn.split(":")[4]
