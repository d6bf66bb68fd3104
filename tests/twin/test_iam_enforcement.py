"""The twin's IAM on single calls: trust policies, external ids, the simulator and the quota answer."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import running_twin

pytestmark = pytest.mark.twin

SOURCE_ROLE = "arn:aws:iam::111111111111:role/aurora-ferry-source"
EXTERNAL_ID = "ferry-prod-7f3a"


def _assume_as(twin: Any, function: str, role_arn: str, external_id: str | None) -> dict[str, Any]:
    """sts:AssumeRole made by a deployed function, under its execution role."""
    import boto3

    params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "aurora-ferry"}
    if external_id:
        params["ExternalId"] = external_id
    with twin.iam.acting_as(function):
        return dict(boto3.client("sts", region_name=twin.world.region).assume_role(**params))


@pytest.mark.parametrize(
    ("role_arn", "external_id"),
    [
        (SOURCE_ROLE, "wrong-id"),
        (SOURCE_ROLE, None),
        ("arn:aws:iam::111111111111:role/aurora-ferry-sourc", EXTERNAL_ID),
    ],
    ids=["wrong-external-id", "no-external-id", "role-arn-typo"],
)
def test_assume_role_is_refused_like_aws(role_arn: str, external_id: str | None) -> None:
    # Given the shipped source stack (trust: the orchestrator's functions, with the external id)
    # When a function assumes the role with a wrong external id, none, or a misspelt role ARN
    with running_twin() as twin, pytest.raises(ClientError) as raised:
        _assume_as(twin, "PrepareSourceFunction", role_arn, external_id)
    # Then STS answers AccessDenied naming the caller, the action and the role
    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert "is not authorized to perform: sts:AssumeRole on resource: " + role_arn in error["Message"]


def test_the_right_external_id_assumes_the_role_and_enforcement_off_lets_anything_through() -> None:
    with running_twin() as twin:
        # Given the right external id / Then the role is assumed
        assert _assume_as(twin, "PrepareSourceFunction", SOURCE_ROLE, EXTERNAL_ID)["Credentials"]
    with running_twin(enforce_iam=False) as twin:
        # Given the twin's IAM switched off / Then even a wrong external id passes: the refusal above is its doing
        assert _assume_as(twin, "PrepareSourceFunction", SOURCE_ROLE, "wrong-id")["Credentials"]


def test_a_function_without_an_assume_role_grant_cannot_reach_member_accounts() -> None:
    # Given SummarizeFunction, whose role template.yaml grants no sts:AssumeRole
    # When it tries / Then its own identity policy refuses it
    with running_twin() as twin, pytest.raises(ClientError) as raised:
        _assume_as(twin, "SummarizeFunction", SOURCE_ROLE, EXTERNAL_ID)
    assert "because no identity-based policy allows the sts:AssumeRole action" in str(raised.value)


def test_the_simulator_answers_from_the_roles_policies_and_refuses_a_resource_policy_without_caller() -> None:
    import boto3

    with running_twin() as twin:
        target_role = "arn:aws:iam::222222222222:role/aurora-ferry-target"
        key = "arn:aws:kms:eu-west-1:111111111111:key/0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a11"
        with twin.iam.acting_as("PreflightFunction"):
            session = _assume_as(twin, "PreflightFunction", target_role, EXTERNAL_ID)["Credentials"]
            target_iam = boto3.client(
                "iam",
                aws_access_key_id=session["AccessKeyId"],
                aws_secret_access_key=session["SecretAccessKey"],
                aws_session_token=session["SessionToken"],
            )
            context = [
                {
                    "ContextKeyName": "kms:ViaService",
                    "ContextKeyValues": ["rds.eu-west-1.amazonaws.com"],
                    "ContextKeyType": "string",
                }
            ]
            # When the target role simulates its own policies for the share key through RDS
            results = target_iam.simulate_principal_policy(
                PolicySourceArn=target_role,
                ActionNames=["kms:Decrypt", "kms:Encrypt"],
                ResourceArns=[key],
                ContextEntries=context,
            )["EvaluationResults"]
            # And with a resource policy but no CallerArn
            with pytest.raises(ClientError) as raised:
                target_iam.simulate_principal_policy(
                    PolicySourceArn=target_role, ActionNames=["kms:Decrypt"], ResourcePolicy="{}"
                )
    # Then Decrypt is allowed and Encrypt is not (the target never writes with the share key)
    assert {r["EvalActionName"]: r["EvalDecision"] for r in results} == {
        "kms:Decrypt": "allowed",
        "kms:Encrypt": "implicitDeny",
    }
    assert raised.value.response["Error"]["Code"] == "InvalidInput"


def test_account_attributes_report_the_worlds_quota_and_use() -> None:
    with running_twin() as twin:
        rds = twin.client("rds", "111111111111")
        quotas = {q["AccountQuotaName"]: q for q in rds.describe_account_attributes()["AccountQuotas"]}
    # Then the source account's three clusters are counted against the default quota
    assert quotas["DBClusters"]["Used"] == 3
    assert quotas["ManualClusterSnapshots"]["Max"] == 100


def test_a_managed_policy_attached_to_a_role_counts_like_an_inline_one() -> None:
    import json

    with running_twin() as twin:
        # Given SummarizeFunction's role, which may not assume member roles, and a customer managed policy
        # that allows it, attached to that role
        iam = twin.client("iam")
        role_name = twin.iam.function_roles["SummarizeFunction"].rsplit("/", 1)[-1]
        document = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": SOURCE_ROLE}],
        }
        arn = iam.create_policy(PolicyName="let-summarize-assume", PolicyDocument=json.dumps(document))[
            "Policy"
        ]["Arn"]
        iam.attach_role_policy(RoleName=role_name, PolicyArn=arn)
        # When the function assumes the source role / Then the managed policy's grant is honoured
        assert _assume_as(twin, "SummarizeFunction", SOURCE_ROLE, EXTERNAL_ID)["Credentials"]
