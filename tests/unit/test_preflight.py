"""The read-only preflight (aurora_ferry.preflight) in the local twin, and its static key policy evaluator
(aurora_ferry.core.kms_policy).

Each twin test starts the default world (worlds/two-accounts.json): source 111111111111 with the share key
0b5e1c3a-... trusted by 222222222222 and 333333333333 but not 444444444444. The preflight runs in the
test thread as the PreflightFunction (under its execution role), assuming the member roles as in a real run.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from aurora_ferry.core import DOMAIN_ERRORS, AccountAccess, AssumeRoleError, PreflightFailedError, session_for
from aurora_ferry.core.kms_policy import (
    CROSS_ACCOUNT_COPY_ACTIONS,
    SOURCE_KEY_COPY_ACTIONS,
    KeyPolicyVerdict,
    evaluate_key_policy,
    key_policy_allows,
    without_account_delegation,
)
from aurora_ferry.migration import parse_migration_request
from aurora_ferry.preflight import Finding, PreflightReport, run_preflight
from aurora_ferry.preflight import runner as preflight_runner
from tests.conftest import fill_copy_queue, load_event, running_twin, someone_elses_snapshot

pytestmark = pytest.mark.unit

REGION = "eu-west-1"
SOURCE = "111111111111"
DEV = "222222222222"
QA = "333333333333"
AUDITORS = "444444444444"
SHARE_KEY_ID = "0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a11"
SHARE_KEY_ARN = f"arn:aws:kms:{REGION}:{SOURCE}:key/{SHARE_KEY_ID}"
DEV_KEY_ARN = f"arn:aws:kms:{REGION}:{DEV}:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6"
DEV_ROLE = f"arn:aws:iam::{DEV}:role/aurora-ferry-target"
READ_ONLY_PREFIXES = ("Describe", "Get", "List", "Simulate", "AssumeRole")


# ---------------------------------------------------------------------------------------------- helpers


def preflight(event: dict[str, Any], run_id: str | None = None) -> PreflightReport:
    """Preflight as the PreflightFunction runs it: under that function's role, in a twin when one runs."""
    from ferry_cli.twin.iam.authorizer import active

    try:
        authorizer = active()
    except RuntimeError:
        return run_preflight(parse_migration_request(event), run_id)
    with authorizer.acting_as("PreflightFunction"):
        return run_preflight(parse_migration_request(event), run_id)


def event(name: str = "migrate-cmk.json") -> dict[str, Any]:
    return copy.deepcopy(load_event(name))


def findings(report: PreflightReport, check: str, severity: str | None = None) -> list[Finding]:
    return [f for f in report.findings if f.check == check and (severity is None or f.severity == severity)]


@contextmanager
def botocore_calls(
    fakes: dict[str, Callable[[dict[str, Any]], Any]] | None = None,
) -> Iterator[list[str]]:
    """Record every AWS operation name; answer the ones in ``fakes`` without calling moto.

    Lets a test play the parts of real AWS moto lacks (quotas, the IAM simulator) or refuse a call; a
    fake that returns None lets that call through to moto.
    """
    original = BaseClient._make_api_call
    seen: list[str] = []

    def spy(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        seen.append(operation)
        answer = fakes[operation](params) if fakes and operation in fakes else None
        return original(client, operation, params) if answer is None else answer

    with mock.patch.object(BaseClient, "_make_api_call", spy):
        yield seen


def access_denied(operation: str) -> Callable[[dict[str, Any]], Any]:
    def refuse(params: dict[str, Any]) -> Any:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, operation
        )

    return refuse


def share_key_policy(target_statement: dict[str, Any]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{SOURCE}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                target_statement,
            ],
        }
    )


# ---------------------------------------------------------------------------------------------- twin


def test_happy_input_has_no_errors_and_a_plan_naming_accounts_and_keys() -> None:
    with running_twin():
        # Given the sample input against the default world / When preflight runs with a run id
        report = preflight(event(), run_id="run-42")

    # Then nothing is wrong
    assert report.ok, [str(f) for f in report.errors]
    assert not findings(report, "share-key-policy", "warning")
    # And the plan lists every step in order, each in its account, with its key (and, after the restore, each
    # setting the target's cluster gets, checked below)
    assert [(s.step, s.account_id) for s in report.plan if s.step != "Settings"] == [
        ("ValidateInput", "orchestrator"),
        ("PrepareSourceSnapshot", SOURCE),
        ("PrepareShareCopy", SOURCE),
        ("ShareSnapshot", SOURCE),
        ("CopyToTarget", DEV),
        ("RestoreCluster", DEV),
        ("OwnCredentials", DEV),
        ("CreateInstances", DEV),
        ("Cleanup", SOURCE),
        ("Cleanup", DEV),
        ("Summarize", "orchestrator"),
    ]
    steps = {(s.step, s.account_id): s for s in report.plan}
    assert steps[("PrepareSourceSnapshot", SOURCE)].kms_key == (
        f"arn:aws:kms:{REGION}:{SOURCE}:key/7d2f9b64-3c1e-4a8b-b6d0-91e4c2a7f355"
    )
    assert steps[("PrepareShareCopy", SOURCE)].kms_key == SHARE_KEY_ARN
    assert steps[("PrepareShareCopy", SOURCE)].creates == "manual cluster snapshot ferry-run-42-share"
    assert "deleted" in (steps[("PrepareShareCopy", SOURCE)].cleanup or "")
    # (the target restores straight from the shared snapshot: its "copy" step makes nothing)
    assert steps[("CopyToTarget", DEV)].creates == "nothing"
    assert "ferry-run-42-share (by its ARN)" in steps[("RestoreCluster", DEV)].action
    assert steps[("RestoreCluster", DEV)].kms_key == DEV_KEY_ARN
    assert steps[("CreateInstances", DEV)].creates == "orders-dev-1, orders-dev-2"
    assert "never deleted" in (steps[("RestoreCluster", DEV)].cleanup or "")
    # And each setting shows the source's value, the target's, and how it gets there
    settings = [s.action for s in report.plan if s.step == "Settings"]
    assert "Port: source 5432, target 5432 (restore parameter)" in settings
    assert any(
        a.startswith("PreferredMaintenanceWindow: ") and a.endswith("(modify after restore)")
        for a in settings
    )
    assert any(
        a.startswith("VpcSecurityGroupIds: ") and a.endswith("(dropped: per account)") for a in settings
    )
    assert steps[("OwnCredentials", DEV)].kms_key == DEV_KEY_ARN
    # And the report is plain JSON
    as_json = json.loads(json.dumps(report.to_json()))
    assert as_json["ok"] is True and as_json["runId"] == "run-42"
    assert as_json["plan"][1]["creates"] == "manual cluster snapshot ferry-run-42-snap"
    report.raise_for_errors()


def test_plan_uses_a_placeholder_run_id_and_reports_the_source_encryption() -> None:
    with running_twin():
        # Given a source under the default aws/rds key / When preflight runs without a run id
        report = preflight(event("migrate-default-key.json"))

    # Then the snapshot names carry the placeholder
    assert report.run_id == "<run-id>"
    assert report.plan[1].creates == "manual cluster snapshot ferry-<run-id>-snap"
    # And the encryption is reported as information
    (info,) = findings(report, "source-encryption")
    assert info.severity == "info"
    assert "default aws/rds key" in info.message and "cannot be shared" in info.message


def test_a_target_the_share_key_does_not_trust_is_an_error_listing_the_missing_actions() -> None:
    with running_twin():
        # Given a target (444444444444) the share key's policy does not name
        report = preflight(event("migrate-failing-key-policy.json"))

    # Then one error for that account lists every KMS action the copy needs, and the fix
    (error,) = report.errors
    assert (error.check, error.account_id, error.resource) == ("share-key-policy", AUDITORS, SHARE_KEY_ARN)
    for action in CROSS_ACCOUNT_COPY_ACTIONS:
        assert action in error.message
    assert f"arn:aws:iam::{AUDITORS}:root" in error.message
    assert "rds.eu-west-1.amazonaws.com" in error.message
    # And raising for it lists the finding by account
    with pytest.raises(PreflightFailedError, match=AUDITORS) as raised:
        report.raise_for_errors()
    assert raised.value.problems == [str(error)]


def test_the_default_aws_rds_key_as_share_key_is_an_error() -> None:
    from ferry_cli.twin.rules import default_rds_key_arn

    with running_twin():
        # Given the source account's AWS managed aws/rds key as the share key
        raw = event()
        raw["shareKmsKeyArn"] = default_rds_key_arn(SOURCE, REGION)

        # When preflight runs
        report = preflight(raw)

    # Then it is an error that explains why and what to use instead
    (error,) = findings(report, "share-key", "error")
    assert error.account_id == SOURCE
    assert "AWS managed key" in error.message and "cannot be shared" in error.message
    assert "customer-managed" in error.message


def test_a_share_key_limited_to_another_regions_rds_is_an_error_naming_the_region() -> None:
    with running_twin() as twin:
        # Given a share key policy that trusts 222222222222 only through RDS in us-east-1
        twin.client("kms", SOURCE).put_key_policy(
            KeyId=SHARE_KEY_ID,
            PolicyName="default",
            Policy=share_key_policy(
                {
                    "Sid": "TargetThroughRds",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{DEV}:root"},
                    "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:ReEncrypt*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:ViaService": "rds.us-east-1.amazonaws.com"}},
                }
            ),
        )

        # When preflight runs
        report = preflight(event())

    # Then the error names the wrong region's endpoint and the right one
    (error,) = report.errors
    assert (error.check, error.account_id) == ("share-key-policy", DEV)
    assert "rds.us-east-1.amazonaws.com" in error.message
    assert "set the condition to rds.eu-west-1.amazonaws.com" in error.message


def test_an_unreadable_share_key_policy_is_a_warning_asking_for_get_key_policy() -> None:
    with running_twin(), botocore_calls({"GetKeyPolicy": access_denied("GetKeyPolicy")}):
        # Given roles that may not read key policies / When preflight runs
        report = preflight(event())

    # Then the share key's policy is a warning naming the permission, not an error
    (warning,) = [f for f in findings(report, "share-key-policy") if f.account_id == SOURCE]
    assert warning.severity == "warning"
    assert "cannot read the key policy" in warning.message
    assert "grant kms:GetKeyPolicy to the source role" in warning.message


def test_a_taken_target_cluster_id_is_an_error() -> None:
    with running_twin() as twin:
        # Given a cluster named orders-dev already in the target account
        twin.client("rds", DEV).create_db_cluster(
            DBClusterIdentifier="orders-dev",
            Engine="aurora-postgresql",
            MasterUsername="someone",
            MasterUserPassword="not-the-ferry-123",
        )

        # When preflight runs
        report = preflight(event())

    # Then that is the only error, naming the field to change
    (error,) = report.errors
    assert (error.check, error.account_id, error.resource) == ("target-cluster-id", DEV, "orders-dev")
    assert "targets[0].clusterIdentifier" in error.message


def test_missing_subnet_group_security_group_and_parameter_group_are_errors() -> None:
    with running_twin():
        # Given networking and a parameter group that do not exist in the target
        raw = event()
        raw["targets"][0].update(
            dbSubnetGroupName="ferry-private",
            vpcSecurityGroupIds=["sg-0123456789abcdef0"],
            dbClusterParameterGroupName="orders-pg16",
        )

        # When preflight runs
        report = preflight(raw)

    # Then each is an error naming the resource and the field
    errors = {f.check: f for f in report.errors}
    assert set(errors) == {"subnet-group", "security-groups", "parameter-group"}
    assert "targets[0].dbSubnetGroupName" in errors["subnet-group"].message
    assert errors["security-groups"].resource == "sg-0123456789abcdef0"
    assert "targets[0].dbClusterParameterGroupName" in errors["parameter-group"].message


def test_security_groups_outside_the_subnet_groups_vpc_are_an_error() -> None:
    with running_twin() as twin:
        # Given a subnet group in one VPC, a security group in another, and a parameter group
        ec2 = twin.client("ec2", DEV)
        vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{n}.0/24", AvailabilityZone=f"{REGION}{zone}")[
                "Subnet"
            ]["SubnetId"]
            for n, zone in enumerate("ab")
        ]
        rds = twin.client("rds", DEV)
        rds.create_db_subnet_group(
            DBSubnetGroupName="ferry-private", DBSubnetGroupDescription="db", SubnetIds=subnets
        )
        other_vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
        group = ec2.create_security_group(GroupName="db", Description="db", VpcId=other_vpc)["GroupId"]
        rds.create_db_cluster_parameter_group(
            DBClusterParameterGroupName="orders-pg16",
            DBParameterGroupFamily="aurora-postgresql16",
            Description="orders",
        )
        raw = event()
        raw["targets"][0].update(
            dbSubnetGroupName="ferry-private",
            vpcSecurityGroupIds=[group],
            dbClusterParameterGroupName="orders-pg16",
        )

        # When preflight runs
        report = preflight(raw)

    # Then only the VPC mismatch is an error
    (error,) = report.errors
    assert (error.check, error.resource) == ("security-groups", group)
    assert vpc in error.message


def test_a_role_that_cannot_be_assumed_is_an_error_and_its_account_is_skipped() -> None:
    # moto's STS does not check trust policies, so the refusal is played by patching session_for.
    real_session_for = session_for

    def refusing_session_for(access: AccountAccess) -> Any:
        if access.account_id == QA:
            raise AssumeRoleError(
                f"cannot assume {access.role_arn}: AccessDenied: not trusted",
                account_id=access.account_id,
                region=access.region,
            )
        return real_session_for(access)

    with running_twin(), mock.patch.object(preflight_runner, "session_for", refusing_session_for):
        # Given two targets, the second (333333333333) refusing the orchestrator
        report = preflight(event("migrate-two-targets.json"))

    # Then one error names the role, and nothing else was checked in that account
    (error,) = report.errors
    assert (error.check, error.account_id) == ("assume-role", QA)
    assert f"arn:aws:iam::{QA}:role/aurora-ferry-target" in error.message
    assert "not trusted" in error.message
    # And it names the request field and where to fix it: trust policy, externalId, MemberRoleArnPattern
    assert "(targets[1].roleArn)" in error.message
    for fix in ("trust policy", "externalId", "MemberRoleArnPattern"):
        assert fix in error.message
    checked_in_qa = {f.check for f in report.findings if f.account_id == QA}
    # (the share key's policy is read in the source account, so it is still checked for QA)
    assert checked_in_qa == {"assume-role", "share-key-policy"}
    # And the other target was checked in full
    assert {"target-key-use", "permissions"} <= {f.check for f in report.findings if f.account_id == DEV}


def test_a_disabled_target_key_is_an_error() -> None:
    with running_twin() as twin:
        # Given the target key disabled
        twin.client("kms", DEV).disable_key(KeyId=DEV_KEY_ARN.rsplit("/", 1)[1])

        # When preflight runs
        report = preflight(event())

    # Then the error says how to fix it
    (error,) = report.errors
    assert (error.check, error.resource) == ("target-key", DEV_KEY_ARN)
    assert "Disabled" in error.message and "enable-key" in error.message


def test_a_source_at_its_snapshot_quota_is_an_error_in_the_source() -> None:
    with running_twin(world="source-at-snapshot-quota.json"):
        # Given a source account whose DescribeAccountAttributes says 2 of 2 manual cluster snapshots are used
        # When preflight runs for a run that snapshots the cluster and re-encrypts a copy
        report = preflight(event())

    # Then the source, which needs two more, is short; the target, which needs one, is not
    (error,) = report.errors
    assert (error.check, error.account_id) == ("snapshot-quota", SOURCE)
    assert (
        "has 2 manual cluster snapshots" in error.message and "quota ManualClusterSnapshots" in error.message
    )
    assert "this run creates 2" in error.message and "Service Quotas" in error.message


def test_a_low_default_snapshot_quota_is_used_when_the_quota_answer_is_refused() -> None:
    with (
        running_twin(),
        mock.patch("aurora_ferry.preflight.quotas.DEFAULT_MANUAL_CLUSTER_SNAPSHOT_QUOTA", 1),
        botocore_calls({"DescribeAccountAttributes": access_denied("DescribeAccountAttributes")}),
    ):
        # Given no quota answer and a default that leaves room for one snapshot
        report = preflight(event())

    # Then the source, which needs two, is short, judged by the documented default
    (error,) = report.errors
    assert (error.check, error.account_id) == ("snapshot-quota", SOURCE)
    assert "assumed the documented default" in error.message


def test_quota_from_describe_account_attributes_counts_existing_manual_snapshots() -> None:
    answer = {
        "AccountQuotas": [
            {"AccountQuotaName": "ManualClusterSnapshots", "Used": 0, "Max": 2},
            {"AccountQuotaName": "DBInstances", "Used": 39, "Max": 40},
        ]
    }
    with running_twin() as twin:
        # Given a quota of 2 manual cluster snapshots, both already used in the target
        someone_elses_snapshot(twin, DEV, snapshot="keep-1")
        twin.client("rds", DEV).create_db_cluster_snapshot(
            DBClusterIdentifier="scratch", DBClusterSnapshotIdentifier="keep-2"
        )

        # When preflight runs with AWS's quota answer (moto has none), for a target that keeps its copy and
        # for one that restores straight from the shared snapshot (the default)
        with botocore_calls({"DescribeAccountAttributes": lambda params: answer}):
            report = preflight(event("migrate-keep-copies.json"))
            direct = preflight(event())

    # Then the target has no room for its copy, nor for two more instances; the source has room for two
    errors = {(f.check, f.account_id): f for f in report.errors}
    assert set(errors) == {("snapshot-quota", DEV), ("account-quota", DEV)}
    # And a target that makes no copy needs no room for one
    assert {(f.check, f.account_id) for f in direct.errors} == {("account-quota", DEV)}
    assert "has 2 manual cluster snapshots" in errors[("snapshot-quota", DEV)].message
    assert "quota ManualClusterSnapshots" in errors[("snapshot-quota", DEV)].message
    assert "39 of 40 DBInstances" in errors[("account-quota", DEV)].message


def test_the_static_check_stands_in_for_the_simulator_and_says_so() -> None:
    with running_twin():
        # Given moto, which has no IAM policy simulator / When preflight runs
        report = preflight(event())

    # Then the target key use was checked statically, and the finding says so
    (finding,) = findings(report, "target-key-use")
    assert finding.severity == "info"
    assert "static check of the key policy" in finding.message


def test_preflight_makes_only_read_calls() -> None:
    with running_twin() as twin:
        # The twin's scheduled wait sweeper would show up in the spy below; it is no part of preflight.
        twin.events.pause_schedules()
        raw = event("migrate-two-targets.json")
        raw["targets"][0].update(
            dbSubnetGroupName="ferry-private",
            vpcSecurityGroupIds=["sg-0123456789abcdef0"],
            dbClusterParameterGroupName="orders-pg16",
        )
        # Given every check exercised (two targets, networking, parameter group)
        # When preflight runs under a spy on every botocore call
        with botocore_calls() as operations:
            preflight(raw)

    # Then every call was a read (or the role assumption)
    assert operations
    assert [op for op in operations if not op.startswith(READ_ONLY_PREFIXES)] == []
    assert {"AssumeRole", "DescribeKey", "GetKeyPolicy", "SimulatePrincipalPolicy"} <= set(operations)


def test_preflight_failed_error_is_a_domain_error_listing_every_problem() -> None:
    # Given two problems / When the error is raised / Then its message lists both, and the ASL must name it
    error = PreflightFailedError(["[account 1] a: one", "[account 2] b: two"])
    assert "2 problem(s)" in str(error) and "one" in str(error) and "two" in str(error)
    assert PreflightFailedError in DOMAIN_ERRORS


# ---------------------------------------------------------------------------------------------- evaluator

TARGET = DEV
ROLE = DEV_ROLE
OTHER_ROLE = f"arn:aws:iam::{DEV}:role/someone-else"
ALL = list(CROSS_ACCOUNT_COPY_ACTIONS)


def allow(
    principal: Any, actions: Any, condition: dict[str, Any] | None = None, sid: str = "S"
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": actions}
    if condition is not None:
        statement["Condition"] = condition
    return statement


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ROOT = {"AWS": f"arn:aws:iam::{TARGET}:root"}
VIA_HERE = {"StringEquals": {"kms:ViaService": "rds.eu-west-1.amazonaws.com"}}
USE = ["kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]


@pytest.mark.parametrize(
    ("key_policy", "principal_arn", "missing", "unsure"),
    [
        pytest.param(
            policy(allow({"AWS": f"arn:aws:iam::{SOURCE}:root"}, "kms:*")), None, ALL, [], id="owner-only"
        ),
        pytest.param(policy(allow(ROOT, [*USE, "kms:CreateGrant"], VIA_HERE)), ROLE, [], [], id="documented"),
        pytest.param(
            policy(allow(ROOT, "kms:*", {"StringEquals": {"kms:CallerAccount": [TARGET, QA]}})),
            None,
            [],
            [],
            id="caller-account-includes",
        ),
        pytest.param(
            policy(allow({"AWS": "*"}, "kms:*", {"StringEquals": {"kms:CallerAccount": SOURCE}})),
            None,
            ALL,
            [],
            id="caller-account-excludes",
        ),
        pytest.param(
            policy(allow({"AWS": "*"}, "kms:*", {"StringEquals": {"aws:PrincipalAccount": TARGET}})),
            None,
            [],
            [],
            id="principal-account",
        ),
        pytest.param(
            policy(
                allow(ROOT, USE, VIA_HERE),
                allow(ROOT, "kms:CreateGrant", {"Bool": {"kms:GrantIsForAWSResource": "true"}}),
            ),
            ROLE,
            [],
            [],
            id="grant-for-aws-resource-on-create-grant",
        ),
        pytest.param(
            policy(allow(ROOT, "kms:*", {"Bool": {"kms:GrantIsForAWSResource": "true"}})),
            ROLE,
            [a for a in ALL if a != "kms:CreateGrant"],
            [],
            id="grant-for-aws-resource-is-absent-from-other-requests",
        ),
        pytest.param(policy(allow({"AWS": ROLE}, "kms:*")), ROLE, [], [], id="this-role"),
        pytest.param(policy(allow({"AWS": OTHER_ROLE}, "kms:*")), ROLE, ALL, [], id="another-role"),
        pytest.param(
            policy(allow({"AWS": OTHER_ROLE}, "kms:*")), None, [], [], id="another-role-any-principal"
        ),
        pytest.param(
            policy(
                allow(
                    {"AWS": "*"},
                    "kms:*",
                    {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{TARGET}:role/aurora-*"}},
                )
            ),
            ROLE,
            [],
            [],
            id="principal-arn-like",
        ),
        pytest.param(
            policy(allow({"AWS": "*"}, "kms:*", {"ArnEquals": {"aws:PrincipalArn": OTHER_ROLE}})),
            ROLE,
            ALL,
            [],
            id="principal-arn-other",
        ),
        pytest.param(
            policy(allow({"AWS": "*"}, "kms:*", {"ArnEquals": {"aws:PrincipalArn": OTHER_ROLE}})),
            None,
            [],
            ALL,
            id="principal-arn-unknown-principal",
        ),
        pytest.param(
            policy(allow(ROOT, "kms:*", {"StringEquals": {"aws:SourceVpce": "vpce-1"}})),
            ROLE,
            [],
            ALL,
            id="unknown-condition-on-allow",
        ),
        pytest.param(
            policy(
                allow(ROOT, "kms:*"),
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "kms:*",
                    "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-123"}},
                },
            ),
            ROLE,
            ALL,
            ALL,
            id="unknown-condition-on-deny",
        ),
        pytest.param(
            policy(
                allow(ROOT, "kms:*"),
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "kms:*",
                    "Condition": {"StringNotEquals": {"kms:ViaService": "rds.eu-west-1.amazonaws.com"}},
                },
            ),
            ROLE,
            [],
            [],
            id="deny-unless-via-rds-here",
        ),
    ],
)
def test_evaluate_key_policy(
    key_policy: dict[str, Any], principal_arn: str | None, missing: list[str], unsure: list[str]
) -> None:
    # Given a key policy / When evaluated for the target account (and role) in eu-west-1
    verdict = evaluate_key_policy(key_policy, TARGET, REGION, ALL, principal_arn)

    # Then these are missing, and these rest on conditions that cannot be evaluated before the run
    assert list(verdict.missing) == missing
    assert list(verdict.unsure) == unsure
    assert sorted([*verdict.allowed, *verdict.missing]) == sorted(ALL)
    # And the twin's wrapper agrees (unevaluable conditions are assumed to hold, as the twin always did)
    assert key_policy_allows(key_policy, TARGET, REGION, ALL) == list(
        evaluate_key_policy(key_policy, TARGET, REGION, ALL).missing
    )


def test_a_via_service_condition_for_another_region_is_named() -> None:
    # Given the documented statement, but for RDS in us-east-1
    wrong = policy(allow(ROOT, "kms:*", {"StringEquals": {"kms:ViaService": "rds.us-east-1.amazonaws.com"}}))

    # When evaluated for eu-west-1
    verdict = evaluate_key_policy(wrong, TARGET, REGION, ALL, ROLE)

    # Then everything is missing and the other region's endpoint is named
    assert verdict.missing == tuple(ALL) and not verdict.ok
    assert verdict.via_service_mismatches == ("rds.us-east-1.amazonaws.com",)
    assert verdict.certainly_missing == tuple(ALL)


def test_explicit_deny_wins_and_is_reported() -> None:
    # Given an allow of everything and a deny of CreateGrant
    denying = policy(
        allow(ROOT, "kms:*"),
        {"Sid": "NoGrants", "Effect": "Deny", "Principal": "*", "Action": "kms:CreateGrant"},
    )

    # When evaluated
    verdict = evaluate_key_policy(denying, TARGET, REGION, ALL, ROLE)

    # Then CreateGrant is missing because it is denied, and the statement is named
    assert verdict.missing == ("kms:CreateGrant",) and verdict.denied == ("kms:CreateGrant",)
    assert any("'NoGrants' denies kms:CreateGrant" in note for note in verdict.notes)


def test_without_account_delegation_keeps_what_applies_without_iam() -> None:
    # Given a key policy delegating to the account (root ARN, bare id) and naming the role, and a Deny
    delegating = policy(
        allow({"AWS": [f"arn:aws:iam::{TARGET}:root", ROLE]}, "kms:*", sid="RootAndRole"),
        allow({"AWS": TARGET}, "kms:*", sid="BareAccount"),
        {
            "Sid": "NoGrants",
            "Effect": "Deny",
            "Principal": {"AWS": f"arn:aws:iam::{TARGET}:root"},
            "Action": "kms:CreateGrant",
        },
    )

    # When the delegation is taken out
    direct = without_account_delegation(delegating, TARGET)

    # Then the role stays, the account-only statement goes, and the Deny is untouched
    assert direct["Statement"] == [
        allow({"AWS": [ROLE]}, "kms:*", sid="RootAndRole"),
        delegating["Statement"][2],
    ]
    # And only the role is allowed directly; another principal of the account gets nothing without IAM
    assert evaluate_key_policy(direct, TARGET, REGION, ["kms:Decrypt"], ROLE).allowed == ("kms:Decrypt",)
    assert evaluate_key_policy(direct, TARGET, REGION, ["kms:Decrypt"], OTHER_ROLE).missing == (
        "kms:Decrypt",
    )


def test_notes_name_the_conditions_and_not_principal_statements_that_were_not_evaluated() -> None:
    # Given an unknown condition key and a NotPrincipal statement
    noted = policy(
        allow(ROOT, USE, {"StringEquals": {"aws:SourceVpce": "vpce-1"}}, sid="FromVpce"),
        {"Sid": "AllBut", "Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "Action": "kms:Decrypt"},
    )

    # When evaluated
    verdict: KeyPolicyVerdict = evaluate_key_policy(noted, TARGET, REGION, ["kms:Decrypt"], ROLE)

    # Then both are noted, and the JSON form carries them
    assert verdict.allowed == ("kms:Decrypt",) and verdict.unsure == ("kms:Decrypt",)
    assert any("'FromVpce'" in n and "aws:SourceVpce" in n for n in verdict.notes)
    assert any("'AllBut' uses NotPrincipal" in n for n in verdict.notes)
    assert verdict.to_json()["notes"] == list(verdict.notes)


# ---------------------------------------------------------------------------------------------- plain moto
# Checks of one key or one cluster, in plain moto (no twin): moto has no IAM policy simulator, so a test
# that needs one plays it with a fake SimulatePrincipalPolicy.

SOURCE_ROLE = f"arn:aws:iam::{SOURCE}:role/aurora-ferry-source"
VIA_RDS = {"StringEquals": {"kms:ViaService": f"rds.{REGION}.amazonaws.com"}}


@dataclass
class MotoWorld:
    """Source 111111111111 with cluster orders under its own customer-managed key and a share key trusted
    by target 222222222222; the source and target keys have AWS's default key policy."""

    event: dict[str, Any]
    source_key: str
    target_key: str

    def client(self, service: str, account: str) -> Any:
        credentials = boto3.client("sts", region_name=REGION).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/setup", RoleSessionName="test-setup"
        )["Credentials"]
        return boto3.client(  # type: ignore[call-overload]
            service,
            region_name=REGION,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def put_key_policy(self, key_arn: str, *statements: dict[str, Any]) -> None:
        account = key_arn.split(":")[4]
        self.client("kms", account).put_key_policy(
            KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy(*statements))
        )


@pytest.fixture
def moto_world(mocked_aws: None) -> MotoWorld:
    world = MotoWorld({}, "", "")
    source_kms = world.client("kms", SOURCE)
    share_key = source_kms.create_key(Description="share")["KeyMetadata"]["Arn"]
    world.source_key = source_kms.create_key(Description="prod-data")["KeyMetadata"]["Arn"]
    world.target_key = world.client("kms", DEV).create_key(Description="dev-data")["KeyMetadata"]["Arn"]
    world.put_key_policy(
        share_key,
        allow({"AWS": f"arn:aws:iam::{SOURCE}:root"}, "kms:*"),
        allow({"AWS": f"arn:aws:iam::{DEV}:root"}, [*USE, "kms:CreateGrant"], VIA_RDS),
    )
    world.client("rds", SOURCE).create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-postgresql",
        MasterUsername="owner",
        MasterUserPassword="not-the-ferry-123",
        StorageEncrypted=True,
        KmsKeyId=world.source_key,
    )
    world.event = event()
    world.event["source"].update(accountId=SOURCE, roleArn=SOURCE_ROLE, clusterIdentifier="orders")
    world.event["shareKmsKeyArn"] = share_key
    world.event["targets"][0].update(accountId=DEV, roleArn=DEV_ROLE, kmsKeyArn=world.target_key)
    return world


def fake_simulator(
    decisions: dict[tuple[str, str], str], seen: list[dict[str, Any]] | None = None
) -> Callable[[dict[str, Any]], Any]:
    """IAM's simulator for the roles' own policies: ``decisions[(role, action)]``, "allowed" when absent."""

    def simulate(params: dict[str, Any]) -> dict[str, Any]:
        if seen is not None:
            seen.append(params)
        role = params["PolicySourceArn"]
        results = [
            {
                "EvalActionName": action,
                "EvalResourceName": params["ResourceArns"][0],
                "EvalDecision": decisions.get((role, action), "allowed"),
            }
            for action in params["ActionNames"]
        ]
        return {"EvaluationResults": results, "IsTruncated": False}

    return simulate


def context_of(params: dict[str, Any]) -> dict[str, tuple[list[str], str]]:
    return {
        c["ContextKeyName"]: (c["ContextKeyValues"], c["ContextKeyType"]) for c in params["ContextEntries"]
    }


def test_the_simulator_is_asked_about_the_roles_own_policies_never_with_the_key_policy(
    moto_world: MotoWorld,
) -> None:
    seen: list[dict[str, Any]] = []

    # Given an IAM simulator that allows everything / When preflight runs
    with botocore_calls({"SimulatePrincipalPolicy": fake_simulator({}, seen)}):
        report = preflight(moto_world.event)

    # Then nothing is wrong, and the key checks came from the simulator and the key policy
    assert report.ok, [str(f) for f in report.errors]
    for check in ("target-key-use", "source-key-use"):
        (finding,) = findings(report, check)
        assert finding.severity == "info"
        assert "iam:SimulatePrincipalPolicy of the role's IAM policies, static check of the key policy" in (
            finding.message
        )
    # And each call simulated a role's identity policies only: no ResourcePolicy, hence no CallerArn
    # (a role cannot be given a key policy: https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html)
    assert all(
        set(params) == {"PolicySourceArn", "ActionNames", "ResourceArns", "ContextEntries"} for params in seen
    )
    # (the key checks' calls; the permissions check simulates the roles' RDS and IAM actions on its own)
    kms_calls = [p for p in seen if all(a.startswith("kms:") for a in p["ActionNames"])]
    assert len(kms_calls) < len(seen)
    share_key = moto_world.event["shareKmsKeyArn"]
    for role, key, account, actions in (
        (DEV_ROLE, moto_world.target_key, DEV, CROSS_ACCOUNT_COPY_ACTIONS),
        # (the target role's use of the share key, whose key policy the share-key-policy check reads)
        (DEV_ROLE, share_key, DEV, CROSS_ACCOUNT_COPY_ACTIONS),
        (SOURCE_ROLE, moto_world.source_key, SOURCE, SOURCE_KEY_COPY_ACTIONS),
    ):
        # (not the permissions check's use of the target key through Secrets Manager, for OwnCredentials)
        calls = [
            p
            for p in kms_calls
            if p["PolicySourceArn"] == role
            and p["ResourceArns"] == [key]
            and "secretsmanager" not in str(p["ContextEntries"])
        ]
        assert sorted(a for p in calls for a in p["ActionNames"]) == sorted(actions)
        (grant,) = [p for p in calls if p["ActionNames"] == ["kms:CreateGrant"]]
        (other,) = [p for p in calls if p is not grant]
        # with the context of a request RDS makes for the role in the source region
        assert context_of(other) == {
            "kms:ViaService": ([f"rds.{REGION}.amazonaws.com"], "string"),
            "kms:CallerAccount": ([account], "string"),
            "aws:RequestedRegion": ([REGION], "string"),
        }
        assert context_of(grant) == {**context_of(other), "kms:GrantIsForAWSResource": (["true"], "boolean")}


ROLE_NAMED = (
    allow({"AWS": f"arn:aws:iam::{DEV}:root"}, "kms:*", sid="EnableIamPoliciesOfThisAccount"),
    allow({"AWS": DEV_ROLE}, ["kms:DescribeKey", "kms:GetKeyPolicy"], sid="OrchestratorRoleDescribe"),
    allow({"AWS": DEV_ROLE}, USE, VIA_RDS, sid="OrchestratorRoleUseThroughRds"),
    allow(
        {"AWS": DEV_ROLE},
        "kms:CreateGrant",
        {**VIA_RDS, "Bool": {"kms:GrantIsForAWSResource": "true"}},
        sid="OrchestratorRoleGrantToRds",
    ),
)
NO_GRANTS = (allow({"AWS": f"arn:aws:iam::{DEV}:root"}, [*USE, "kms:GetKeyPolicy", "kms:PutKeyPolicy"]),)


@pytest.mark.parametrize(
    ("key_policy", "identity", "severity", "expected"),
    [
        pytest.param(
            (),
            {"kms:CreateGrant": "implicitDeny"},
            "error",
            [
                "kms:CreateGrant (implicitDeny)",
                "does not allow them to the role on its own",
                "statements OrchestratorRoleGrantToRds of member-accounts/target-account.yaml",
            ],
            id="identity-denies-while-the-key-policy-only-delegates-to-iam",
        ),
        pytest.param(
            NO_GRANTS,
            {},
            "error",
            [
                "The key policy does not allow kms:CreateGrant to the role or its account",
                "statements OrchestratorRoleGrantToRds of member-accounts/target-account.yaml",
            ],
            id="key-policy-misses-an-action-the-identity-allows",
        ),
        pytest.param(
            ROLE_NAMED,
            dict.fromkeys(CROSS_ACCOUNT_COPY_ACTIONS, "implicitDeny"),
            "info",
            [f"role {DEV_ROLE} may use"],
            id="a-key-policy-naming-the-role-needs-no-iam-policy",
        ),
        pytest.param(
            ROLE_NAMED,
            {"kms:Decrypt": "explicitDeny"},
            "error",
            [
                "An explicit Deny (IAM policy, SCP or permissions boundary) refuses kms:Decrypt",
                "remove or narrow",
            ],
            id="an-explicit-iam-deny-wins-over-the-key-policy",
        ),
    ],
)
def test_target_key_use_needs_both_the_identity_and_the_key_policy(
    moto_world: MotoWorld,
    key_policy: tuple[dict[str, Any], ...],
    identity: dict[str, str],
    severity: str,
    expected: list[str],
) -> None:
    # Given the target key's policy (AWS's default when empty) and what the target role's IAM policies allow
    if key_policy:
        moto_world.put_key_policy(moto_world.target_key, *key_policy)
    decisions = {(DEV_ROLE, action): decision for action, decision in identity.items()}

    # When preflight runs
    with botocore_calls({"SimulatePrincipalPolicy": fake_simulator(decisions)}):
        report = preflight(moto_world.event)

    # Then the target key use combines both halves as KMS does, and nothing else is wrong but the share key's use
    # by the same role, whose IAM policies (the simulator here answers per action, whatever the key) refuse the
    # same actions: without a key policy naming the role, the share key needs them in the role's IAM policies
    (finding,) = findings(report, "target-key-use")
    assert finding.severity == severity, finding.message
    share_key_refused = ["share-key-use"] if identity else []
    # (and the same role's use of its own key through Secrets Manager for OwnCredentials: one permissions finding
    # per refused action)
    secret_key_refused = ["permissions"] * len({"kms:Decrypt", "kms:GenerateDataKey"} & set(identity))
    expected_errors = (
        (["target-key-use"] if severity == "error" else []) + share_key_refused + secret_key_refused
    )
    assert sorted(f.check for f in report.errors) == sorted(expected_errors)
    for text in expected:
        assert text in finding.message
    if severity == "error":
        # And the error names the account and the key (the fix is among the expected texts)
        assert (finding.account_id, finding.resource) == (DEV, moto_world.target_key)
        assert f"key {moto_world.target_key} of account {DEV}" in finding.message


@pytest.mark.parametrize(
    "simulator",
    [
        pytest.param(None, id="moto-has-no-simulator"),
        pytest.param(access_denied("SimulatePrincipalPolicy"), id="the-role-may-not-simulate"),
    ],
)
def test_without_the_simulator_the_key_policy_is_checked_statically_and_the_finding_says_so(
    moto_world: MotoWorld, simulator: Callable[[dict[str, Any]], Any] | None
) -> None:
    # Given no usable IAM simulator (not implemented, or AccessDenied)
    fakes = {"SimulatePrincipalPolicy": simulator} if simulator else {}

    # When preflight runs
    with botocore_calls(fakes):
        report = preflight(moto_world.event)

    # Then both key checks fall back to the key policy alone, and say the IAM policies were not checked
    assert report.ok, [str(f) for f in report.errors]
    for check in ("target-key-use", "source-key-use"):
        (finding,) = findings(report, check)
        assert finding.severity == "info"
        assert "static check of the key policy, because iam:SimulatePrincipalPolicy was unavailable" in (
            finding.message
        )
        assert "the role's own IAM policies were not checked" in finding.message


def test_a_stopped_source_cluster_is_an_error(moto_world: MotoWorld) -> None:
    # Given the source cluster stopped
    moto_world.client("rds", SOURCE).stop_db_cluster(DBClusterIdentifier="orders")

    # When preflight runs
    report = preflight(moto_world.event)

    # Then it is an error: RDS does not snapshot a stopped cluster
    (error,) = report.errors
    assert (error.check, error.account_id, error.resource) == ("source-status", SOURCE, "orders")
    assert "is stopped" in error.message and "start it" in error.message


def test_a_source_key_whose_policy_does_not_admit_the_source_role_is_an_error(moto_world: MotoWorld) -> None:
    # Given the source cluster's key policy allows another role only (moto: no simulator)
    other = f"arn:aws:iam::{SOURCE}:role/someone-else"
    moto_world.put_key_policy(moto_world.source_key, allow({"AWS": other}, "kms:*"))

    # When preflight runs
    report = preflight(moto_world.event)

    # Then the source role's use of its own key is an error naming the missing actions and the fix
    (error,) = report.errors
    assert (error.check, error.account_id, error.resource) == (
        "source-key-use",
        SOURCE,
        moto_world.source_key,
    )
    assert "kms:CreateGrant, kms:Decrypt, kms:DescribeKey" in error.message
    assert (
        "SourceClusterKmsKeyArns" in error.message and "member-accounts/source-account.yaml" in error.message
    )
    assert "PrepareShareCopy would fail" in error.message


@pytest.mark.parametrize(
    "key_policy_readable",
    [pytest.param(True, id="key-policy-read"), pytest.param(False, id="key-policy-denied")],
)
def test_a_source_key_missing_from_the_source_roles_iam_policies_is_an_error(
    moto_world: MotoWorld, key_policy_readable: bool
) -> None:
    # Given a source key with AWS's default key policy (it delegates to IAM), a source role whose IAM
    # policies do not name the key (it is not in SourceClusterKmsKeyArns), and maybe GetKeyPolicy denied
    decisions = {(SOURCE_ROLE, action): "implicitDeny" for action in SOURCE_KEY_COPY_ACTIONS}
    fakes: dict[str, Callable[[dict[str, Any]], Any]] = {"SimulatePrincipalPolicy": fake_simulator(decisions)}
    if not key_policy_readable:
        refuse = access_denied("GetKeyPolicy")
        fakes["GetKeyPolicy"] = lambda params: (
            refuse(params) if params["KeyId"] == moto_world.source_key else None
        )

    # When preflight runs
    with botocore_calls(fakes):
        report = preflight(moto_world.event)

    # Then it is an error naming the actions, the parameter to add the key to, and the template statements
    (error,) = report.errors
    assert (error.check, error.resource) == ("source-key-use", moto_world.source_key)
    assert "kms:CreateGrant (implicitDeny), kms:Decrypt (implicitDeny), kms:DescribeKey (implicitDeny)" in (
        error.message
    )
    assert f"add {moto_world.source_key} to SourceClusterKmsKeyArns of the source stack" in error.message
    assert "GrantSourceClusterKeysToRds, ReadSourceClusterKeysThroughRds, DescribeKeys" in error.message
    # And, without the key policy, the identity half alone decided and the finding says so
    assert ("the key policy was not checked (kms:GetKeyPolicy: AccessDeniedException)" in error.message) is (
        not key_policy_readable
    )


@pytest.mark.parametrize(
    "describe_key",
    [pytest.param("denied", id="describe-key-denied"), pytest.param("aws-managed", id="aws-managed")],
)
def test_a_default_key_source_is_not_checked_for_key_use_and_an_undescribable_key_is_a_warning(
    moto_world: MotoWorld, describe_key: str
) -> None:
    # Given a cluster on the account's aws/rds key (moto invents it on lookup) ...
    rds_key = moto_world.client("kms", SOURCE).describe_key(KeyId="alias/aws/rds")["KeyMetadata"]
    moto_world.client("rds", SOURCE).create_db_cluster(
        DBClusterIdentifier="billing",
        Engine="aurora-mysql",
        MasterUsername="owner",
        MasterUserPassword="not-the-ferry-123",
        StorageEncrypted=True,
        KmsKeyId=rds_key["Arn"],
    )
    moto_world.event["source"]["clusterIdentifier"] = "billing"

    # ... that the source role may not describe, or that DescribeKey shows AWS managed (moto's is not)
    def describe(params: dict[str, Any]) -> Any:
        if params["KeyId"] != rds_key["Arn"]:
            return None
        if describe_key == "denied":
            return access_denied("DescribeKey")(params)
        return {"KeyMetadata": {**rds_key, "KeyManager": "AWS"}}

    # When preflight runs
    with botocore_calls({"DescribeKey": describe}):
        report = preflight(moto_world.event)

    # Then nothing is an error and the use of the key is not checked (its policy admits the account's RDS callers)
    assert report.ok, [str(f) for f in report.errors]
    assert not findings(report, "source-key-use")
    warnings = findings(report, "source-encryption", "warning")
    if describe_key == "aws-managed":
        assert not warnings
        return
    # And an undescribable key is a warning naming the key and the missing permission
    (warning,) = warnings
    assert (warning.account_id, warning.resource) == (SOURCE, rds_key["Arn"])
    assert "kms:DescribeKey" in warning.message and "DescribeKeys" in warning.message
    assert "SourceClusterKmsKeyArns" in warning.message


def test_a_target_whose_copy_queue_is_full_in_its_region_is_warned_that_its_copy_will_queue() -> None:
    with running_twin() as twin:
        # Given a target account with five cluster snapshot copies already in progress in eu-west-1
        fill_copy_queue(someone_elses_snapshot(twin, DEV))
        # When preflight runs for a target that copies there, and for one that restores from the share
        copying = preflight(event("migrate-keep-copies.json"))
        direct = preflight(event())

    # Then the copying run is warned (it queues, it does not fail), naming the Region; the other is not
    (warning,) = [f for f in copying.findings if f.check == "copy-queue"]
    assert (warning.severity, warning.account_id, warning.resource) == ("warning", DEV, "eu-west-1")
    assert "has 5 cluster snapshot copies in progress in eu-west-1" in warning.message
    assert copying.ok
    assert [f for f in direct.findings if f.check == "copy-queue"] == []


def test_a_target_that_would_mirror_no_instances_is_an_error_and_the_plan_lists_each_instance() -> None:
    mirrored = event("migrate-serverless-v2.json")
    serverless_billing = copy.deepcopy(mirrored)
    serverless_billing["source"]["clusterIdentifier"] = "billing"
    serverless_billing["targets"][0].update(clusterIdentifier="billing-dev", instanceClass="db.serverless")
    with running_twin(world="serverless-v2.json"):
        # Given a Serverless v2 source whose two instances a target mirrors (no instanceClass)
        report = preflight(mirrored)
        # and a provisioned source (no Serverless v2 scaling) whose target asks for db.serverless
        without_scaling = preflight(serverless_billing)
    # Then the second is an error naming the setting to give (RDS refuses db.serverless in a cluster without it)
    (error,) = without_scaling.errors
    assert (error.check, error.resource) == ("target-instances", "targets[0]")
    assert "targets[0].settings.serverlessV2Scaling" in error.message
    # And the first is clean, its plan listing the instances with how each gets there
    assert report.errors == []
    lines = [step.action for step in report.plan if step.step == "Settings"]
    assert any(
        line.startswith("Instance 1: source db.serverless, writer") and "(mirrored)" in line for line in lines
    )
    with running_twin() as twin:
        # Given a source cluster without instances, and the same target
        twin.client("rds", SOURCE).create_db_cluster(
            DBClusterIdentifier="headless",
            Engine="aurora-postgresql",
            MasterUsername="ferry",
            MasterUserPassword="correct-horse-battery",
        )
        headless = copy.deepcopy(mirrored)
        headless["source"]["clusterIdentifier"] = "headless"
        report = preflight(headless)
    # Then that target is an error naming the field to give
    (error,) = findings(report, "target-instances", "error")
    assert (error.account_id, error.resource) == (DEV, "targets[0]")
    assert "targets[0].instanceClass: required here: it has no instances" in error.message
