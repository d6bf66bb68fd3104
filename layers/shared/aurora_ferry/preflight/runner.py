"""Read-only preflight: find KMS, sharing and quota mistakes before a migration changes anything.

A run that fails on a key policy does so an hour in, after snapshots and copies were made; the checks
here take seconds and name the fix. They reach each member account through the same role the run will
assume and make only Describe/Get/List/Simulate calls (plus sts:AssumeRole), so they run unchanged
against real AWS and the local twin. What a role may not read becomes a warning naming the permission,
never a silent pass.

The checks are a table per kind of account, run in order: each names its check, the function, whether
the run itself needs the calls it makes (then a refused call is an error, not a warning), the permission
to grant when it is refused, the resource a finding names, and when the check applies at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from aurora_ferry.core import AccountAccess, AssumeRoleError, error_code, error_message, session_for
from aurora_ferry.migration import MigrationRequest, copy_regions, region_access, source_access, target_access
from aurora_ferry.preflight.carried import check_carried_settings
from aurora_ferry.preflight.context import RUN_ID_PLACEHOLDER, Account, Preflight, TargetAccount
from aurora_ferry.preflight.copy_regions import check_region_permissions
from aurora_ferry.preflight.keys import check_source_key, check_target_key, source_key, source_key_applies
from aurora_ferry.preflight.parameter_groups import check_parameter_groups
from aurora_ferry.preflight.permissions import check_source_permissions, check_target_permissions
from aurora_ferry.preflight.plan import build_plan
from aurora_ferry.preflight.quotas import (
    MANUAL_CLUSTER_SNAPSHOTS_QUOTA,
    check_region_quotas,
    check_source_quotas,
    check_target_quotas,
)
from aurora_ferry.preflight.report import PreflightReport
from aurora_ferry.preflight.share_keys import (
    check_copy_key_use,
    check_region_share_key,
    check_share_key,
    check_share_key_use,
    region_share_key,
    share_key_used,
    source_encrypted,
    target_share_key,
)
from aurora_ferry.preflight.source import check_source
from aurora_ferry.preflight.targets import check_networking, check_target_names, check_targets_count

if TYPE_CHECKING:
    import boto3


@dataclass(frozen=True)
class Check[A: Account]:
    """One check of one account, as the table runs it."""

    name: str
    function: Callable[[Preflight, A], None]
    needed_by_run: bool
    permission: str
    resource: Callable[[Preflight, A], str]
    # When the check applies; None: always.
    applies: Callable[[Preflight, A], bool] | None = None


def _permissions[A: Account](
    function: Callable[[Preflight, A], None], applies: Callable[[Preflight, A], bool] | None = None
) -> Check[A]:
    """The check that the account's role may make the run's calls there, simulated against its policies."""
    return Check(
        "permissions",
        function,
        False,
        "iam:SimulatePrincipalPolicy on the role itself",
        lambda _, account: account.access.role_arn,
        applies,
    )


def _snapshot_quota[A: Account](function: Callable[[Preflight, A], None]) -> Check[A]:
    """The check that the account has room for the manual snapshots the run makes there."""
    return Check(
        "snapshot-quota",
        function,
        False,
        "rds:DescribeDBClusterSnapshots",
        lambda *_: MANUAL_CLUSTER_SNAPSHOTS_QUOTA,
    )


def _source_found(preflight: Preflight, account: Account) -> bool:
    return preflight.source is not None


SOURCE_CHECKS: tuple[Check[Account], ...] = (
    Check(
        "source-exists",
        check_source,
        True,
        "rds:DescribeDBClusters and rds:DescribeDBClusterSnapshots",
        lambda preflight, _: (
            preflight.request.source.cluster_identifier or preflight.request.source.snapshot_identifier or ""
        ),
    ),
    Check(
        "source-key-use",
        check_source_key,
        False,
        "kms:GetKeyPolicy on the source key",
        source_key,
        source_key_applies,
    ),
    Check(
        "share-key",
        check_share_key,
        False,
        "kms:DescribeKey and kms:GetKeyPolicy on the share key",
        lambda preflight, _: preflight.request.share_kms_key_arn,
    ),
    _permissions(check_source_permissions, _source_found),
    _snapshot_quota(check_source_quotas),
)

# The source account in each Region it copies into (options.crossRegionCopy "two-step"), through the same role
# with its clients there; after the source's checks, which find the source these depend on.
REGION_CHECKS: tuple[Check[Account], ...] = (
    Check(
        "share-key",
        check_region_share_key,
        False,
        "kms:DescribeKey and kms:GetKeyPolicy on the regional share key",
        region_share_key,
    ),
    Check(
        "copy-key-use",
        check_copy_key_use,
        False,
        "kms:GetKeyPolicy on the regional share key",
        region_share_key,
        source_encrypted,
    ),
    _permissions(check_region_permissions, _source_found),
    _snapshot_quota(check_region_quotas),
)

TARGET_CHECKS: tuple[Check[TargetAccount], ...] = (
    _permissions(check_target_permissions),
    Check(
        "target-key",
        check_target_key,
        False,
        "kms:DescribeKey on the target key",
        lambda _, account: account.target.kms_key_arn,
    ),
    Check(
        "share-key-use",
        check_share_key_use,
        False,
        "iam:SimulatePrincipalPolicy on the role itself",
        target_share_key,
        share_key_used,
    ),
    Check(
        "target-cluster-id",
        check_target_names,
        True,
        "rds:DescribeDBClusters and rds:DescribeDBInstances",
        lambda _, account: account.target.cluster_identifier,
    ),
    Check(
        "target-networking",
        check_networking,
        False,
        "rds:DescribeDBSubnetGroups, ec2:DescribeSecurityGroups and rds:DescribeDBClusterParameterGroups",
        lambda _, account: account.target.cluster_identifier,
    ),
    Check(
        "parameter-groups",
        check_parameter_groups,
        True,
        "rds:DescribeDBClusterParameterGroups, rds:DescribeDBParameterGroups, rds:DescribeDBClusterParameters and "
        "rds:DescribeDBParameters (source and target roles)",
        lambda _, account: account.target.cluster_identifier,
    ),
    Check(
        "carried-settings",
        check_carried_settings,
        False,
        "rds:DescribeDBClusters and rds:DescribeDBInstances on the source",
        lambda _, account: account.target.cluster_identifier,
        _source_found,
    ),
    _snapshot_quota(check_target_quotas),
)


def run_preflight(request: MigrationRequest, run_id: str | None = None) -> PreflightReport:
    """Check the request against the member accounts, read-only, and describe what the run would do."""
    preflight = Preflight(request, run_id or RUN_ID_PLACEHOLDER)
    check_targets_count(preflight)
    access = source_access(request)
    session = _assume(preflight, access, "source.roleArn")
    if session is not None:
        _run_checks(preflight, SOURCE_CHECKS, Account(access, session))
    for region in copy_regions(request):
        access = region_access(request, region)
        session = _assume(preflight, access, "source.roleArn")
        if session is not None:
            _run_checks(preflight, REGION_CHECKS, Account(access, session))
    for index, target in enumerate(request.targets):
        access = target_access(request, target)
        session = _assume(preflight, access, f"targets[{index}].roleArn")
        if session is not None:
            _run_checks(preflight, TARGET_CHECKS, TargetAccount(access, session, index, target))
    return PreflightReport(preflight.run_id, preflight.findings, build_plan(preflight))


def _run_checks[A: Account](preflight: Preflight, checks: tuple[Check[A], ...], account: A) -> None:
    for check in checks:
        if check.applies is None or check.applies(preflight, account):
            _guarded(preflight, check, account)


def _guarded[A: Account](preflight: Preflight, check: Check[A], account: A) -> None:
    """Run one check; a call the role may not make becomes a finding instead of ending the preflight.

    It is an error when the run itself makes that call (the run would fail the same way), a warning
    when only the preflight needs it.
    """
    access = account.access
    try:
        check.function(preflight, account)
    except ClientError as error:
        code = error_code(error)
        resource = check.resource(preflight, account)
        preflight.add(
            "error" if check.needed_by_run else "warning",
            check.name,
            access.account_id,
            resource,
            f"could not check {resource}: {code}: {error_message(error)}. "
            + (
                f"Grant {check.permission} to {access.role_arn}; "
                if "denied" in code.lower() or "unauthorized" in code.lower()
                else ""
            )
            + ("the run needs this too." if check.needed_by_run else "this check was skipped."),
        )
    except BotoCoreError as error:
        resource = check.resource(preflight, account)
        preflight.add(
            "warning",
            check.name,
            access.account_id,
            resource,
            f"could not check {resource}: {error}. This check was skipped; run the preflight again.",
        )


def _assume(preflight: Preflight, access: AccountAccess, field_name: str) -> boto3.Session | None:
    try:
        return session_for(access)
    except AssumeRoleError as error:
        preflight.add(
            "error",
            "assume-role",
            access.account_id,
            access.role_arn,
            f"cannot assume {access.role_arn} ({field_name}): {_cause(error)}. Let the orchestrator "
            "assume it: the role's trust policy must name the orchestrator's principal (and the "
            "externalId, if one is set, must match); the orchestrator's MemberRoleArnPattern must match "
            "the role ARN. The other checks in this account were skipped.",
        )
        return None


def _cause(error: AssumeRoleError) -> str:
    # AssumeRoleError's text repeats the account prefix and the role; the finding names both already.
    text = str(error)
    return text.split(": ", 1)[1] if ": " in text else text
