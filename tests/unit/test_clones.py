"""The clone domain (aurora_ferry.clone) against plain moto, no state machine.

Plain moto has no clone groups, no RAM invitations and always reports CrossAccountClone false; where a test
needs a clone group it sets moto's cluster attribute directly. The rules moto lacks are covered by the twin's
tests (tests/twin/test_clone_rules.py) and end to end (tests/e2e/test_clones.py).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.client import BaseClient

from aurora_ferry import clone
from aurora_ferry.clone import (
    ClonePollEvent,
    CloneRequest,
    CloneSourceEvent,
    RetireEvent,
    parse_clone_request,
    summarize_clone_failure,
    summarize_clone_success,
)
from aurora_ferry.clone import names as clone_names
from aurora_ferry.clone import steps as clone_steps
from aurora_ferry.clone.inspect import SourceFacts
from aurora_ferry.core import (
    AccountAccess,
    CloneNotAllowedError,
    CloneVerificationError,
    InvalidInputError,
    PayloadError,
    SourceNotFoundError,
    TargetConflictError,
)
from aurora_ferry.core.naming import MANAGED_TAG, RUN_ID_TAG

pytestmark = [pytest.mark.unit, pytest.mark.filterwarnings("ignore:No application metrics to publish")]

REPO = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
PROD = "111111111111"
DEV = "222222222222"
RUN = "run-1"


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO / "events" / name).read_text(encoding="utf-8"))
    return data


def request_of(name: str, **changes: Any) -> CloneRequest:
    raw = copy.deepcopy(event(name))
    for path, value in changes.items():
        section, field = path.split("__")
        raw[section][field] = value
    return parse_clone_request(raw)


Client = Callable[[str, str], Any]


@pytest.fixture
def client(mocked_aws: None) -> Client:
    """client(service, account): acting in that account through an assumed role, as the functions do."""
    sessions: dict[str, Any] = {}

    def make(service: str, account: str) -> Any:
        if account not in sessions:
            creds = boto3.client("sts", region_name=REGION).assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/unit", RoleSessionName="unit-test"
            )["Credentials"]
            sessions[account] = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=REGION,
            )
        return sessions[account].client(service)

    return make


def cluster(
    client: Client,
    account: str,
    identifier: str,
    *,
    instances: int = 1,
    key: str | None = None,
    tags: dict[str, str] | None = None,
    deletion_protection: bool = False,
) -> str:
    rds = client("rds", account)
    params: dict[str, Any] = {"StorageEncrypted": key is not None, "DeletionProtection": deletion_protection}
    if key:
        params["KmsKeyId"] = key
    arn = rds.create_db_cluster(
        DBClusterIdentifier=identifier,
        Engine="aurora-postgresql",
        MasterUsername="ferry",
        MasterUserPassword="correct-horse-battery",
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        **params,
    )["DBCluster"]["DBClusterArn"]
    for n in range(instances):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{identifier}-{n + 1}",
            DBClusterIdentifier=identifier,
            DBInstanceClass="db.r6g.large",
            Engine="aurora-postgresql",
        )
    rds.describe_db_clusters()  # moto makes a cluster available on its first read
    return str(arn)


def set_clone_group(account: str, identifiers: list[str], group: str) -> None:
    from moto.rds.models import rds_backends

    for identifier in identifiers:
        setattr(rds_backends[account][REGION].clusters[identifier], "clone_group_id", group)  # noqa: B010


# ------------------------------------------------------------------------------------------------ names


def test_clone_names_are_derived_from_the_input_or_the_run_id() -> None:
    # Given a plain clone and a refresh
    plain = request_of("clone-same-account.json")
    refresh = request_of("clone-refresh.json")
    # Then the plain clone keeps its name and a refresh gets "<replaces>-<8 hex of the run id>"
    assert clone_names.clone_identifier(plain, RUN) == "orders-sandbox"
    suffix = clone_names.short_run_id(RUN)
    assert len(suffix) == 8 and int(suffix, 16) >= 0
    assert clone_names.clone_identifier(refresh, RUN) == f"orders-dev-{suffix}"
    assert clone_names.clone_identifier(refresh, "run-2") != clone_names.clone_identifier(refresh, RUN)
    assert clone.plan(refresh, RUN) == {
        "cloneIdentifier": f"orders-dev-{suffix}",
        "crossAccount": False,
        "shareName": f"aurora-ferry-{RUN}",
    }


def test_clone_tags_mark_the_tool_the_run_and_the_refreshed_dev_cluster() -> None:
    tags = {
        t["Key"]: t["Value"] for t in clone_names.clone_tags(request_of("clone-refresh.json"), RUN, "clone")
    }
    assert tags == {
        "team": "payments",
        "env": "dev",
        clone_names.REFRESH_OF_TAG: "orders-dev",
        MANAGED_TAG: "true",
        RUN_ID_TAG: RUN,
        "aurora-ferry:purpose": "clone",
    }


# ------------------------------------------------------------------------------- inspect: refusals


def test_a_cluster_owned_by_another_account_is_refused_before_any_aws_call() -> None:
    raw = event("clone-same-account.json")
    raw["source"]["clusterIdentifier"] = f"arn:aws:rds:eu-west-1:{DEV}:cluster:orders"
    with (
        mock.patch.object(BaseClient, "_make_api_call", side_effect=AssertionError("AWS called")),
        pytest.raises(
            CloneNotAllowedError, match=f"owned by account {DEV} and was shared with account {PROD}"
        ),
    ):
        clone.inspect_clone(parse_clone_request(raw), RUN)


def test_a_missing_source_is_source_not_found(client: Client) -> None:
    with pytest.raises(SourceNotFoundError, match="source cluster orders not found"):
        clone.inspect_clone(request_of("clone-same-account.json"), RUN)


def test_a_source_without_instances_is_refused(client: Client) -> None:
    cluster(client, PROD, "orders", instances=0)
    with pytest.raises(CloneNotAllowedError, match="has no DB instance"):
        clone.inspect_clone(request_of("clone-same-account.json"), RUN)


def test_a_source_with_fifteen_clones_is_refused(client: Client) -> None:
    cluster(client, PROD, "orders")
    siblings = [f"orders-c{n}" for n in range(15)]
    for sibling in siblings:
        cluster(client, PROD, sibling, instances=0)
    set_clone_group(PROD, ["orders", *siblings], "group-1")
    with pytest.raises(CloneNotAllowedError, match="already has 15 clones in its clone group group-1"):
        clone.inspect_clone(request_of("clone-same-account.json"), RUN)


def test_fourteen_clones_leave_room_for_one_more(client: Client) -> None:
    cluster(client, PROD, "orders")
    siblings = [f"orders-c{n}" for n in range(14)]
    for sibling in siblings:
        cluster(client, PROD, sibling, instances=0)
    set_clone_group(PROD, ["orders", *siblings], "group-1")
    checked = clone.inspect_clone(request_of("clone-same-account.json"), RUN)
    assert checked["source"]["cloneGroupId"] == "group-1"


def test_a_key_for_an_unencrypted_source_is_refused(client: Client) -> None:
    cluster(client, PROD, "orders")
    key = client("kms", PROD).create_key()["KeyMetadata"]["Arn"]
    request = request_of("clone-same-account.json", target__kmsKeyArn=key)
    with pytest.raises(CloneNotAllowedError, match="is not encrypted"):
        clone.inspect_clone(request, RUN)


def test_a_cross_account_clone_under_the_default_key_is_refused(client: Client) -> None:
    from ferry_cli.twin.rules import default_rds_key_arn

    cluster(client, PROD, "orders", key=default_rds_key_arn(PROD, REGION))
    with pytest.raises(CloneNotAllowedError, match="default aws/rds key"):
        clone.inspect_clone(request_of("clone-cross-account.json"), RUN)


def test_a_cross_account_clone_of_an_encrypted_cluster_needs_the_target_key(client: Client) -> None:
    key = client("kms", PROD).create_key()["KeyMetadata"]["Arn"]
    cluster(client, PROD, "orders", key=key)
    raw = event("clone-cross-account.json")
    del raw["target"]["kmsKeyArn"]
    with pytest.raises(InvalidInputError) as caught:
        clone.inspect_clone(parse_clone_request(raw), RUN)
    assert caught.value.problems[0].startswith("target.kmsKeyArn: required")


def test_a_taken_clone_name_is_a_target_conflict(client: Client) -> None:
    cluster(client, PROD, "orders")
    cluster(client, PROD, "orders-sandbox")
    with pytest.raises(TargetConflictError, match="orders-sandbox already exists"):
        clone.inspect_clone(request_of("clone-same-account.json"), RUN)


def test_a_refresh_finds_the_dev_cluster_and_earlier_refresh_clones(client: Client) -> None:
    # Given the named dev cluster and an earlier refresh clone, both made by the tool, and an unrelated cluster
    cluster(client, PROD, "orders")
    managed = {MANAGED_TAG: "true", RUN_ID_TAG: "old"}
    cluster(client, PROD, "orders-dev", tags=managed)
    cluster(client, PROD, "orders-dev-0a1b2c3d", tags={**managed, clone_names.REFRESH_OF_TAG: "orders-dev"})
    cluster(client, PROD, "orders-dev-other", tags=managed)
    # When the refresh is inspected
    checked = clone.inspect_clone(request_of("clone-refresh.json"), RUN)
    # Then both are to be retired, and only they
    assert checked["retiring"] is True
    assert [c["identifier"] for c in checked["replaces"]] == ["orders-dev", "orders-dev-0a1b2c3d"]


def test_a_first_refresh_retires_nothing(client: Client) -> None:
    cluster(client, PROD, "orders")
    checked = clone.inspect_clone(request_of("clone-refresh.json"), RUN)
    assert checked == {"source": checked["source"], "replaces": [], "retiring": False}


@pytest.mark.parametrize(
    ("tags", "protected", "words"),
    [({}, False, "was not made by aurora-ferry"), ({MANAGED_TAG: "true"}, True, "deletion protection on")],
    ids=["not-managed", "deletion-protection"],
)
def test_a_refresh_refuses_a_dev_cluster_it_could_not_or_must_not_delete(
    client: Client, tags: dict[str, str], protected: bool, words: str
) -> None:
    cluster(client, PROD, "orders")
    cluster(client, PROD, "orders-dev", tags=tags, deletion_protection=protected)
    with pytest.raises(CloneNotAllowedError, match=words):
        clone.inspect_clone(request_of("clone-refresh.json"), RUN)


# --------------------------------------------------------------------------- verify, retire, polls


def test_a_cross_account_clone_that_does_not_report_cross_account_clone_fails_verification(
    client: Client,
) -> None:
    # Given (plain moto) a clone in the target account that reports CrossAccountClone false
    key = client("kms", DEV).create_key()["KeyMetadata"]["Arn"]
    cluster(client, DEV, "orders-dev", key=key)
    request = request_of("clone-cross-account.json", target__kmsKeyArn=key)
    # When it is verified, then the named error says what was expected
    with pytest.raises(CloneVerificationError, match="CrossAccountClone=false, expected true"):
        clone.verify_clone(request, RUN)


def test_a_same_account_clone_verifies(client: Client) -> None:
    cluster(client, PROD, "orders-sandbox")
    assert clone.verify_clone(request_of("clone-same-account.json"), RUN)["crossAccountClone"] is False


def test_retiring_deletes_only_clusters_the_tool_made(client: Client) -> None:
    # Given a managed dev cluster, one whose tags were removed since the inspection, and this run's own clone
    cluster(client, PROD, "orders-dev", tags={MANAGED_TAG: "true"})
    cluster(client, PROD, "orders-dev-hand", tags={})
    cluster(client, PROD, "orders-dev-new", tags={MANAGED_TAG: "true", "aurora-ferry:run-id": RUN})
    targets = [
        {"identifier": "orders-dev"},
        {"identifier": "orders-dev-hand"},
        {"identifier": "orders-dev-new"},
    ]
    request = request_of("clone-refresh.json")
    access = clone.target_access(request)
    # When instances, then clusters are retired
    instances = clone.retire_instances(request, targets, RUN)
    gone = clone.poll_gone(access, "instances-gone", instances["instanceIdentifiers"], 0)
    retired = clone.retire_clusters(request, targets, RUN)
    # Then only the managed one went, the untagged one is reported left in place, the run's own is kept
    assert instances["instanceIdentifiers"] == ["orders-dev-1"]
    assert gone.ready and gone.attempt == 1
    assert retired["clusterIdentifiers"] == ["orders-dev"]
    assert [a["action"] for a in retired["actions"]] == ["deleted", "left-in-place"]
    remaining = [c["DBClusterIdentifier"] for c in client("rds", PROD).describe_db_clusters()["DBClusters"]]
    assert sorted(remaining) == ["orders-dev-hand", "orders-dev-new"]
    assert clone.poll_gone(access, "clusters-gone", ["orders-dev"], 3).to_json()["ready"] is True


def test_poll_gone_reports_what_is_left(client: Client) -> None:
    cluster(client, PROD, "orders-dev")
    access = AccountAccess(PROD, REGION, f"arn:aws:iam::{PROD}:role/aurora-ferry-source")
    result = clone.poll_gone(access, "clusters-gone", ["orders-dev", "never-was"], 0)
    assert (result.ready, result.details["remaining"]) == (False, {"orders-dev": "available"})


def test_cleanup_after_a_failure_reports_the_run_s_clone_left_in_place(client: Client) -> None:
    cluster(client, PROD, "orders-sandbox", tags={MANAGED_TAG: "true", RUN_ID_TAG: RUN})
    result = clone.cleanup_clone_run(request_of("clone-same-account.json"), RUN, failed=True)
    assert [a["action"] for a in result["actions"]] == ["left-in-place"]
    assert clone.cleanup_clone_run(request_of("clone-same-account.json"), "run-2", failed=True) == {
        "actions": []
    }


# ------------------------------------------------------------------------------ events and summaries


@pytest.mark.parametrize(
    ("parse", "payload", "problem"),
    [
        (CloneSourceEvent.parse, {"input": {}, "runId": "r"}, "event.source: required by this step"),
        (
            RetireEvent.parse,
            {"action": "drop"},
            "event.action: must be one of delete-instances, delete-clusters",
        ),
        (ClonePollEvent.parse, {"kind": "snapshot"}, "event.kind: must be one of cluster, instances"),
        (ClonePollEvent.parse, {"kind": "cluster", "access": {}}, "event.identifier: required by this step"),
    ],
    ids=["source", "action", "kind", "identifier"],
)
def test_malformed_step_payloads_name_the_field(
    parse: Callable[..., Any], payload: Any, problem: str
) -> None:
    # A payload the workflow built wrong is the workflow's fault, not the user's input
    with pytest.raises(PayloadError) as caught:
        parse(payload)
    assert caught.value.problems[0].startswith(problem)
    assert caught.value.category == "payload"


def _succeeded_state(refresh: bool) -> dict[str, Any]:
    request = request_of("clone-refresh.json" if refresh else "clone-cross-account.json").to_json()
    marks = {
        "started": {"at": "2026-11-23T08:00:00Z"},
        "shared": {"at": "2026-11-23T08:02:00Z", "invitationArn": "arn:aws:ram:eu-west-1:1:invitation/x"},
        "cloneReady": {"at": "2026-11-23T08:12:00Z", "endpoint": "e", "readerEndpoint": "r"},
        "instancesReady": {"at": "2026-11-23T08:22:00Z"},
        "cleanedUp": {"at": "2026-11-23T08:23:00Z"},
    }
    state: dict[str, Any] = {
        "input": request,
        "runId": RUN,
        "plan": {"crossAccount": not refresh},
        "checked": {
            "source": {"arn": "arn:aws:rds:eu-west-1:111111111111:cluster:orders", "encryption": "none"}
        },
        "clone": {"clusterArn": "arn:clone", "clusterIdentifier": "orders-dev"},
        "instances": {"instanceArns": ["arn:i1"]},
        "verified": {"crossAccountClone": not refresh, "cloneGroupId": "g", "kmsKeyId": None},
        "cleanup": {"actions": []},
        "marks": marks,
    }
    if not refresh:
        state["share"] = {"resourceShareArn": "arn:share"}
    else:
        del marks["shared"]
        marks["retired"] = {"at": "2026-11-23T08:22:30Z"}
        state["retired"] = {"clusterArns": ["arn:old"], "actions": [{"action": "deleted", "arn": "arn:old"}]}
    return state


def test_the_success_summary_lists_the_clone_share_and_timings() -> None:
    summary = summarize_clone_success(_succeeded_state(refresh=False), "2026-11-23T08:23:30Z")
    assert summary["clone"]["endpoint"] == "e"
    assert summary["share"] == {
        "resourceShareArn": "arn:share",
        "invitationArn": "arn:aws:ram:eu-west-1:1:invitation/x",
    }
    assert [t["step"] for t in summary["timings"]] == [
        "share (RAM)",
        "clone cluster",
        "create instances",
        "cleanup",
    ]
    assert [c["kind"] for c in summary["created"]] == ["clone cluster", "clone instance", "RAM share"]
    assert summary["totalSeconds"] == 1410.0
    assert summary["refresh"] is None


def test_the_refresh_summary_lists_what_was_retired() -> None:
    summary = summarize_clone_success(_succeeded_state(refresh=True), "2026-11-23T08:23:30Z")
    assert summary["refresh"]["retiredClusterArns"] == ["arn:old"]
    assert summary["share"] is None
    assert "retire old dev cluster" in [t["step"] for t in summary["timings"]]


def test_the_failure_summary_says_what_cleanup_did_and_that_the_dev_cluster_was_kept() -> None:
    state = {
        "runId": RUN,
        "input": request_of("clone-refresh.json").to_json(),
        "failure": {
            "Error": "ResourceFailedError",
            "Cause": json.dumps({"errorType": "ResourceFailedError", "errorMessage": "clone failed"}),
        },
        "cleanup": {"actions": [{"action": "left-in-place", "arn": "arn:clone"}]},
    }
    result = summarize_clone_failure(state)
    assert result["error"] == "ResourceFailedError"
    assert result["cause"].startswith("clone failed | cleanup: left-in-place arn:clone")
    assert "the dev cluster being refreshed was kept" in result["cause"]


@pytest.mark.parametrize(
    ("step", "account"),
    [("CreateClone", "target account 222222222222"), ("ShareSourceCluster", "source account 111")],
)
def test_the_failure_summary_names_the_step_and_the_account_it_acted_in(step: str, account: str) -> None:
    # Given a cross-account clone run whose step failed without a message (a task timeout)
    state = {
        "runId": RUN,
        "sourceAccess": {"accountId": "111111111111"},
        "targetAccess": {"accountId": "222222222222"},
        "failure": {step: {"Error": "States.Timeout", "Cause": ""}},
    }
    # When it is summarized
    result = summarize_clone_failure(state)
    # Then the cause names the step and its account, and the error is not a reserved States.* name
    assert result["error"] == "StepTimedOut"
    assert result["cause"].startswith(f"{step} ({account}")


def test_the_validate_handler_returns_the_plan_without_calling_aws(lambda_context: Any) -> None:
    from tests.unit.conftest import load_handler_module

    module: ModuleType = load_handler_module("validate_clone_input")
    with mock.patch.object(BaseClient, "_make_api_call", side_effect=AssertionError("AWS called")):
        result = module.lambda_handler(
            {"input": event("clone-cross-account.json"), "executionName": RUN}, lambda_context
        )
    assert set(result) == {"input", "runId", "sourceAccess", "targetAccess", "plan"}
    assert result["plan"] == {
        "cloneIdentifier": "orders-dev",
        "crossAccount": True,
        "shareName": f"aurora-ferry-{RUN}",
    }
    assert result["targetAccess"]["accountId"] == DEV
    assert result["targetAccess"]["region"] == REGION


# ------------------------------------------------------------------------------------- carried settings


def test_the_inspection_reads_the_settings_the_clone_carries(client: Client) -> None:
    # Given a source cluster with IAM database authentication, port 5433 and its own maintenance window
    rds = client("rds", PROD)
    rds.create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-postgresql",
        MasterUsername="ferry",
        MasterUserPassword="correct-horse-battery",
        EnableIAMDatabaseAuthentication=True,
        Port=5433,
        PreferredMaintenanceWindow="sun:05:00-sun:05:30",
    )
    rds.create_db_instance(
        DBInstanceIdentifier="orders-1",
        DBClusterIdentifier="orders",
        DBInstanceClass="db.r6g.large",
        Engine="aurora-postgresql",
    )
    rds.describe_db_clusters()  # moto makes a cluster available on its first read
    request = request_of("clone-same-account.json")
    # When the clone's source is inspected, and its facts carried through the payload
    checked = clone.inspect_clone(request, RUN)
    facts = SourceFacts.from_json(json.loads(json.dumps(checked["source"])))
    # Then the facts carry the settings, and the clone's plan passes them (the window after it is available)
    assert facts.configuration is not None
    carry = clone_steps.carried(request, facts)
    assert carry is not None
    assert carry.restore["EnableIAMDatabaseAuthentication"] is True
    assert carry.restore["Port"] == 5433
    assert carry.modify == {"PreferredMaintenanceWindow": "sun:05:00-sun:05:30"}


def test_configure_clone_applies_only_what_differs_and_an_override_wins(client: Client) -> None:
    # Given a clone, and a source whose maintenance window the input overrides
    cluster(client, PROD, "orders", instances=1)
    request = request_of(
        "clone-same-account.json", target__settings={"preferredMaintenanceWindow": "mon:01:00-mon:01:30"}
    )
    facts = SourceFacts.from_json(clone.inspect_clone(request, RUN)["source"])
    clone_id = str(request.target.clone_identifier)
    cluster(client, PROD, clone_id, instances=0)
    # When the settings are applied, and applied again
    first = clone_steps.configure_clone(request, RUN, facts)
    second = clone_steps.configure_clone(request, RUN, facts)
    # Then the first modified the clone to the override and the second found nothing to change
    assert (first, second) == ({"modified": True}, {"modified": False})
    found = client("rds", PROD).describe_db_clusters(DBClusterIdentifier=clone_id)["DBClusters"][0]
    assert found["PreferredMaintenanceWindow"] == "mon:01:00-mon:01:30"
