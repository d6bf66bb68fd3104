"""operators/pipeline-role.yaml: who may assume the pipeline role, judged by the twin's IAM evaluator, and the
shape of what it grants. (What each grant is needed for: tests/e2e/test_operate_cli.py, which judges every call
`ferry start`, `watch`, `runs` and `stop` make under the role.)"""

from __future__ import annotations

from typing import Any

import pytest

from ferry_cli.twin.cfn import render_stack
from ferry_cli.twin.iam.policy import AuthRequest, Principal, authorize
from tests.conftest import REPO

pytestmark = pytest.mark.unit

TEMPLATE = REPO / "operators" / "pipeline-role.yaml"
ORCHESTRATOR = "123456789012"
PIPELINE_ACCOUNT = "444455556666"
PIPELINE_ROLE = f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/ci/deploy-pipeline"
MACHINES = {
    "MigrationStateMachineArn": f"arn:aws:states:eu-west-1:{ORCHESTRATOR}:stateMachine:aurora-ferry-Migration",
    "CloneStateMachineArn": f"arn:aws:states:eu-west-1:{ORCHESTRATOR}:stateMachine:aurora-ferry-Clone",
}
# The pipeline's own side: its role may assume roles (cross-account, both sides must allow).
PIPELINE_POLICY = [
    (
        "pipeline",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
        },
    )
]


def _role(**parameters: str) -> Any:
    rendered = render_stack(
        TEMPLATE,
        {"PipelinePrincipalArn": PIPELINE_ROLE, **MACHINES, **parameters},
        account_id=ORCHESTRATOR,
        region="eu-west-1",
        stack_name="aurora-ferry-pipeline",
    )
    return rendered.resources["PipelineRole"]


def _assumes(role: Any, caller_role: str, external_id: str | None) -> bool:
    account = caller_role.split(":")[4]
    caller = Principal(
        arn=f"arn:aws:sts::{account}:assumed-role/{caller_role.rsplit('/', 1)[-1]}/build-42",
        account_id=account,
        principal_arn=caller_role,
    )
    context = {"sts:ExternalId": external_id} if external_id else {}
    verdict = authorize(
        caller,
        AuthRequest("sts:AssumeRole", str(role.arn), context),
        PIPELINE_POLICY,
        role.properties["AssumeRolePolicyDocument"],
        ORCHESTRATOR,
        resource_policy_required=True,
    )
    return verdict.allowed


@pytest.mark.parametrize(
    ("caller", "external_id", "allowed"),
    [
        (PIPELINE_ROLE, "ferry-ci-7f3a", True),
        (PIPELINE_ROLE, "wrong", False),
        (PIPELINE_ROLE, None, False),
        (f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/ci/other-job", "ferry-ci-7f3a", False),
        ("arn:aws:iam::777788889999:role/ci/deploy-pipeline", "ferry-ci-7f3a", False),
    ],
    ids=[
        "the-pipeline",
        "wrong-external-id",
        "no-external-id",
        "another-role-same-account",
        "another-account",
    ],
)
def test_only_the_pipeline_principal_with_the_external_id_assumes_the_role(
    caller: str, external_id: str | None, allowed: bool
) -> None:
    # Given the role deployed with an external id / Then only the named principal presenting it is let in
    assert _assumes(_role(ExternalId="ferry-ci-7f3a"), caller, external_id) is allowed


def test_without_an_external_id_the_principal_alone_decides() -> None:
    role = _role()
    assert _assumes(role, PIPELINE_ROLE, None)
    assert not _assumes(role, f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/ci/other-job", None)
    assert "StringEquals" not in str(role.properties["AssumeRolePolicyDocument"])


def test_the_role_grants_named_actions_on_the_stack_and_its_two_state_machines_only() -> None:
    role = _role(OrchestratorStackName="ferry-prod")
    statements = [s for policy in role.properties["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    granted = {
        (action, resource)
        for s in statements
        for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        for resource in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    }
    migration_runs = MACHINES["MigrationStateMachineArn"].replace(":stateMachine:", ":execution:") + ":*"
    clone_runs = MACHINES["CloneStateMachineArn"].replace(":stateMachine:", ":execution:") + ":*"
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in statements)
    assert granted == {
        (
            "cloudformation:DescribeStacks",
            f"arn:aws:cloudformation:eu-west-1:{ORCHESTRATOR}:stack/ferry-prod/*",
        ),
        *(
            (action, machine)
            for action in ("states:StartExecution", "states:ListExecutions")
            for machine in MACHINES.values()
        ),
        *(
            (action, runs)
            for action in ("states:DescribeExecution", "states:GetExecutionHistory", "states:StopExecution")
            for runs in (migration_runs, clone_runs)
        ),
        # Only a migration parks for a redrive
        ("states:RedriveExecution", migration_runs),
    }
    # And the role is outside /aurora-ferry/, the path the member accounts' roles trust
    assert role.properties["Path"] == "/aurora-ferry-pipeline/"
    assert ":role/aurora-ferry/" not in str(role.arn)


def test_a_wildcard_principal_is_refused_by_the_template() -> None:
    from ferry_cli.twin.cfn import StackError

    with pytest.raises(StackError, match="PipelinePrincipalArn"):
        render_stack(
            TEMPLATE,
            {"PipelinePrincipalArn": f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/*", **MACHINES},
            account_id=ORCHESTRATOR,
            region="eu-west-1",
            stack_name="aurora-ferry-pipeline",
        )
