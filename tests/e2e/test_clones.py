"""Aurora clones in the local twin (worlds/clones.json): real clone ASL, real handlers, the twin's clone and
RAM rules (ferry_cli.twin.clones) on top of its Aurora / KMS rules."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from aurora_ferry.clone.names import short_run_id
from aurora_ferry.core import ResourceFailedError
from tests.conftest import load_event, running_twin

pytestmark = pytest.mark.e2e

PROD = "111111111111"
DEV = "222222222222"
PARTNER = "555555555555"
DEV_KEY = "arn:aws:kms:eu-west-1:222222222222:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6"
PARTNER_KEY = "arn:aws:kms:eu-west-1:555555555555:key/9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
ORDERS_ARN = f"arn:aws:rds:eu-west-1:{PROD}:cluster:orders"
MACHINE = "CloneStateMachine"


def _run(
    twin: Any, event: dict[str, Any], name: str | None = None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    before = twin.inventory()
    description = twin.wait(twin.start(event, machine=MACHINE, name=name), timeout_real_seconds=240)
    return description, before, twin.inventory()


def _cluster(inventory: dict[str, Any], account: str, identifier: str) -> dict[str, Any] | None:
    matches = [c for c in inventory[account]["clusters"] if c["identifier"] == identifier]
    return matches[0] if matches else None


def _instances(inventory: dict[str, Any], account: str, cluster: str) -> list[dict[str, Any]]:
    return [i for i in inventory[account]["instances"] if i["cluster"] == cluster]


def _assert_source_untouched(before: dict[str, Any], after: dict[str, Any]) -> None:
    """The source cluster, its instances and the snapshots that existed before are exactly as they were."""
    assert _cluster(after, PROD, "orders") == _cluster(before, PROD, "orders")
    assert _instances(after, PROD, "orders") == _instances(before, PROD, "orders")
    preexisting = {s["identifier"] for s in before[PROD]["snapshots"]}
    assert [s for s in after[PROD]["snapshots"] if s["identifier"] in preexisting] == before[PROD][
        "snapshots"
    ]


def _shares(twin: Any, account: str = PROD) -> list[dict[str, Any]]:
    shares: list[dict[str, Any]] = twin.client("ram", account).get_resource_shares(
        resourceOwner="SELF", resourceShareStatus="ACTIVE"
    )["resourceShares"]
    return shares


def _describe(twin: Any, account: str, identifier: str) -> dict[str, Any]:
    found: dict[str, Any] = twin.client("rds", account).describe_db_clusters(DBClusterIdentifier=identifier)[
        "DBClusters"
    ][0]
    return found


def _entered(history: list[dict[str, Any]], name: str) -> int:
    return sum(
        1
        for e in history
        if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == name
    )


# ------------------------------------------------------------------------------------------- successes


def test_same_account_clone_gets_its_instances_and_is_not_a_cross_account_clone() -> None:
    # Given a source cluster with two instances, and a clone in the same account
    with running_twin("clones.json") as twin:
        # When the clone runs
        description, before, after = _run(twin, load_event("clone-same-account.json"))
        history = twin.history(description["executionArn"])
        clone = _describe(twin, PROD, "orders-sandbox")
        source = _describe(twin, PROD, "orders")
    # Then it succeeds without any RAM share, with one available instance, in the source's clone group
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    assert output["kind"] == "clone"
    assert output["crossAccount"] is False
    assert output["share"] is None
    assert _entered(history, "ShareSourceCluster") == 0
    cluster = _cluster(after, PROD, "orders-sandbox")
    assert cluster is not None and cluster["status"] == "available"
    assert cluster["tags"]["aurora-ferry:managed"] == "true"
    assert cluster["tags"]["aurora-ferry:run-id"] == output["runId"]
    assert cluster["tags"]["team"] == "payments"
    assert [i["status"] for i in _instances(after, PROD, "orders-sandbox")] == ["available"]
    assert clone["CrossAccountClone"] is False
    assert clone["CloneGroupId"] == source["CloneGroupId"]
    # And the clone kept the source's key (no target key was asked for), and the source is untouched
    assert cluster["kmsKeyId"] == _cluster(before, PROD, "orders")["kmsKeyId"]  # type: ignore[index]
    _assert_source_untouched(before, after)
    # And the instances were only asked for once a check had seen the clone available
    polls = [
        json.loads(e["stateExitedEventDetails"]["output"])["poll"]
        for e in history
        if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == "CheckClone"
    ]
    assert polls and polls[-1]["status"] == "available"
    assert all(p["status"] != "available" for p in polls[:-1])


def test_cross_account_clone_within_one_organization_needs_no_invitation() -> None:
    # Given prod and dev in one organization, and the dev account's own key
    with running_twin("clones.json") as twin:
        # When the cross-account clone runs
        description, before, after = _run(twin, load_event("clone-cross-account.json"))
        clone = _describe(twin, DEV, "orders-dev")
        invitations = twin.client("ram", DEV).get_resource_share_invitations()["resourceShareInvitations"]
        shares_left = _shares(twin)
    # Then it succeeds: dev never got an invitation, the clone is a cross-account clone under the dev key
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    assert output["crossAccount"] is True
    assert output["share"]["invitationArn"] is None
    assert invitations == []
    assert clone["CrossAccountClone"] is True
    assert clone["KmsKeyId"] == DEV_KEY
    assert [i["status"] for i in _instances(after, DEV, "orders-dev")] == ["available", "available"]
    # And the run's RAM share was removed afterwards, and nothing of prod changed
    assert shares_left == []
    assert [a["action"] for a in output["cleanup"]["actions"]] == ["unshared"]
    _assert_source_untouched(before, after)


def test_cross_account_clone_outside_the_organization_accepts_the_invitation() -> None:
    # Given a partner account outside prod's organization, and an input that allows external principals
    with running_twin("clones.json") as twin:
        # When the clone runs
        description, before, after = _run(twin, load_event("clone-cross-account-external.json"))
        invitations = twin.client("ram", PARTNER).get_resource_share_invitations()["resourceShareInvitations"]
        clone = _describe(twin, PARTNER, "orders-partner")
    # Then the partner accepted the pending invitation, and the clone exists under the partner's key
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    assert [i["status"] for i in invitations] == ["ACCEPTED"]
    assert output["share"]["invitationArn"] == invitations[0]["resourceShareInvitationArn"]
    assert clone["CrossAccountClone"] is True
    assert clone["KmsKeyId"] == PARTNER_KEY
    assert _cluster(after, PARTNER, "orders-partner")["tags"]["aurora-ferry:managed"] == "true"  # type: ignore[index]
    _assert_source_untouched(before, after)


def test_external_account_is_not_shared_with_unless_the_input_asks() -> None:
    # Given the partner target outside the organization, without sharing.allowExternalPrincipals
    event = copy.deepcopy(load_event("clone-cross-account-external.json"))
    del event["sharing"]
    with running_twin("clones.json") as twin:
        # When the clone runs
        description, before, after = _run(twin, event)
        shares_left = _shares(twin)
    # Then the share can't be associated with the partner: a named refusal that says what to set
    assert description["status"] == "FAILED"
    assert description["error"] == "CloneNotAllowedError"
    assert "sharing.allowExternalPrincipals" in description["cause"]
    # And cleanup removed the run's share; no clone exists in the partner account
    assert shares_left == []
    assert "unshared" in description["cause"]
    assert after[PARTNER]["clusters"] == []
    _assert_source_untouched(before, after)


# ----------------------------------------------------------------------- refusals, before any change


def _refused(twin: Any, event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    earlier = dict(twin.invocations.by_function)
    description, before, after = _run(twin, event)
    invocations = {
        name: count - earlier.get(name, 0)
        for name, count in twin.invocations.by_function.items()
        if count > earlier.get(name, 0)
    }
    assert description["status"] == "FAILED"
    # Nothing changed anywhere: clusters, instances, snapshots in every account, and no RAM share.
    assert after == before
    assert _shares(twin) == []
    for step in ("ShareClusterFunction", "CreateCloneFunction", "CreateCloneInstancesFunction"):
        assert step not in invocations, f"{step} ran for a refused clone"
    return description, before, after


def test_a_clone_in_another_region_is_refused_by_the_contract() -> None:
    # Given a clone asked for in another Region
    event = copy.deepcopy(load_event("clone-same-account.json"))
    event["target"]["region"] = "us-east-1"
    with running_twin("clones.json") as twin:
        # When it is started
        description, _, _ = _refused(twin, event)
        invocations = set(twin.invocations.by_function)
    # Then the contract refuses it, naming the field, before any AWS call (only validation and the summary ran)
    assert description["error"] == "InvalidInputError"
    assert "target.region: must be source.region eu-west-1" in description["cause"]
    clone_steps = {
        name
        for name in invocations
        if "Clone" in name or name in ("ShareClusterFunction", "AcceptShareFunction")
    }
    assert clone_steps == {"ValidateCloneInputFunction", "SummarizeCloneFunction"}


def test_a_source_with_no_db_instance_is_refused() -> None:
    # Given a source cluster without any DB instance
    event = copy.deepcopy(load_event("clone-same-account.json"))
    event["source"]["clusterIdentifier"] = "orders-archive"
    with running_twin("clones.json") as twin:
        # When the clone runs
        description, _, _ = _refused(twin, event)
    # Then it is refused with the named error, saying why
    assert description["error"] == "CloneNotAllowedError"
    assert "orders-archive has no DB instance" in description["cause"]
    assert "[account 111111111111 eu-west-1]" in description["cause"]


def test_a_source_that_is_not_available_is_refused() -> None:
    # Given a stopped source cluster
    with running_twin("clones.json") as twin:
        twin.client("rds", PROD).stop_db_cluster(DBClusterIdentifier="legacy-reports")
        event = copy.deepcopy(load_event("clone-same-account.json"))
        event["source"]["clusterIdentifier"] = "legacy-reports"
        # When the clone runs
        description, _, _ = _refused(twin, event)
    # Then it is refused, naming the status
    assert description["error"] == "CloneNotAllowedError"
    assert "legacy-reports is stopped" in description["cause"]


def test_a_sixteenth_clone_of_one_source_is_refused() -> None:
    # Given a source that already has 15 copy-on-write clones in its clone group
    with running_twin("clones.json") as twin:
        rds = twin.client("rds", PROD)
        for n in range(1, 16):
            rds.restore_db_cluster_to_point_in_time(
                SourceDBClusterIdentifier="orders",
                DBClusterIdentifier=f"orders-c{n}",
                RestoreType="copy-on-write",
                UseLatestRestorableTime=True,
            )
        twin.rules.settle_all()
        # When one more clone runs
        description, _, _ = _refused(twin, load_event("clone-same-account.json"))
    # Then it is refused: 15 is the copy-on-write limit
    assert description["error"] == "CloneNotAllowedError"
    assert "already has 15 clones in its clone group" in description["cause"]


def test_a_cross_account_clone_of_a_default_key_cluster_is_refused() -> None:
    # Given a source encrypted with the default aws/rds key, and a clone in another account
    event = copy.deepcopy(load_event("clone-cross-account.json"))
    event["source"]["clusterIdentifier"] = "billing"
    with running_twin("clones.json") as twin:
        # When the clone runs
        description, _, _ = _refused(twin, event)
    # Then it is refused before anything is shared
    assert description["error"] == "CloneNotAllowedError"
    assert "default aws/rds key" in description["cause"]


def test_a_clone_of_a_cluster_shared_with_the_acting_account_is_refused() -> None:
    # Given prod's cluster shared with dev through RAM (same organization: associated without invitation)
    with running_twin("clones.json") as twin:
        twin.client("ram", PROD).create_resource_share(
            name="manual-share", resourceArns=[ORDERS_ARN], principals=[DEV], allowExternalPrincipals=False
        )
        twin.clock.advance(600)
        shares_before = _shares(twin)
        # When dev tries to clone it as its own source (to share it on or clone it again)
        event = copy.deepcopy(load_event("clone-same-account.json"))
        event["source"].update(
            accountId=DEV,
            roleArn=f"arn:aws:iam::{DEV}:role/aurora-ferry-target",
            clusterIdentifier=ORDERS_ARN,
        )
        event["target"].update(accountId=DEV, roleArn=f"arn:aws:iam::{DEV}:role/aurora-ferry-target")
        before = twin.inventory()
        description = twin.wait(twin.start(event, machine=MACHINE), timeout_real_seconds=120)
        after = twin.inventory()
        shares_after = _shares(twin)
    # Then it is refused: the cluster is owned by prod, and dev may not re-share it
    assert description["status"] == "FAILED"
    assert description["error"] == "CloneNotAllowedError"
    assert f"owned by account {PROD} and was shared with account {DEV}" in description["cause"]
    assert after == before
    assert shares_after == shares_before


def test_a_second_cross_account_clone_in_one_target_account_is_refused() -> None:
    # Given dev already has a cross-account clone of prod's orders
    with running_twin("clones.json") as twin:
        first, _, _ = _run(twin, load_event("clone-cross-account.json"))
        assert first["status"] == "SUCCEEDED", first.get("cause")
        # When a second cross-account clone of the same cluster is asked for in dev
        event = copy.deepcopy(load_event("clone-cross-account.json"))
        event["target"]["cloneIdentifier"] = "orders-dev-2"
        description, _, _ = _refused(twin, event)
    # Then it is refused, naming the existing clone
    assert description["error"] == "CloneNotAllowedError"
    assert "already has a cross-account clone" in description["cause"]
    assert "orders-dev" in description["cause"]


# ------------------------------------------------------------------------------------------ refresh


def test_a_refresh_replaces_the_previous_dev_clone_only_once_the_new_one_is_ready() -> None:
    # Given a first refresh that made the dev clone
    with running_twin("clones.json") as twin:
        first, _, _ = _run(twin, load_event("clone-refresh.json"), name="refresh-week-1")
        assert first["status"] == "SUCCEEDED", first.get("cause")
        old_id = f"orders-dev-{short_run_id('refresh-week-1')}"
        # When the next refresh runs
        description, before, after = _run(twin, load_event("clone-refresh.json"), name="refresh-week-2")
        history = twin.history(description["executionArn"])
    # Then the new clone is available with its instance, and the old one and its instance are gone
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    new_id = f"orders-dev-{short_run_id('refresh-week-2')}"
    assert output["clone"]["clusterIdentifier"] == new_id
    assert _cluster(before, PROD, old_id) is not None
    assert _cluster(after, PROD, old_id) is None
    assert _instances(after, PROD, old_id) == []
    new = _cluster(after, PROD, new_id)
    assert new is not None and new["status"] == "available"
    assert new["tags"]["aurora-ferry:refresh-of"] == "orders-dev"
    assert new["deletionProtection"] is False
    assert output["refresh"]["retiredClusterArns"] == [f"arn:aws:rds:eu-west-1:{PROD}:cluster:{old_id}"]
    # And the old cluster was retired only after the new clone's instances were ready
    names = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
    assert (
        names.index("MarkInstancesReady")
        < names.index("RetireOldInstances")
        < names.index("RetireOldClusters")
    )
    _assert_source_untouched(before, after)


def test_a_refresh_whose_new_clone_fails_keeps_the_old_dev_cluster() -> None:
    # Given an existing dev clone, and a next refresh whose new clone AWS reports as failed
    box: dict[str, Any] = {"fail": False}

    def poll(event: dict[str, Any], context: Any) -> Any:
        if box["fail"] and event["kind"] == "cluster":
            raise ResourceFailedError(f"cluster {event['identifier']} is failed", account_id=PROD)
        twin = box["twin"]
        spec = twin.template.functions["PollCloneFunction"]
        return getattr(twin._handler_module(spec), spec.handler_name)(event, context)

    with running_twin("clones.json", handler_overrides={"PollCloneFunction": poll}) as twin:
        box["twin"] = twin
        first, _, _ = _run(twin, load_event("clone-refresh.json"), name="refresh-week-1")
        assert first["status"] == "SUCCEEDED", first.get("cause")
        old_id = f"orders-dev-{short_run_id('refresh-week-1')}"
        box["fail"] = True
        # When the next refresh runs
        description, before, after = _run(twin, load_event("clone-refresh.json"), name="refresh-week-2")
        invocations = dict(twin.invocations.by_function)
    # Then it fails with the named error, and the old dev cluster and its instance are still there
    assert description["status"] == "FAILED"
    assert description["error"] == "ResourceFailedError"
    assert "the dev cluster being refreshed was kept" in description["cause"]
    assert _cluster(after, PROD, old_id) == _cluster(before, PROD, old_id)
    assert _instances(after, PROD, old_id) == _instances(before, PROD, old_id) != []
    assert "RetireDevClusterFunction" not in invocations
    # And the failed new clone is reported as left in place (the tool never deletes a clone it made)
    new_id = f"orders-dev-{short_run_id('refresh-week-2')}"
    assert f"left-in-place arn:aws:rds:eu-west-1:{PROD}:cluster:{new_id}" in description["cause"]
    _assert_source_untouched(before, after)


def test_a_refresh_refuses_to_replace_a_cluster_the_tool_did_not_make() -> None:
    # Given a dev cluster somebody made by hand (no aurora-ferry tags)
    event = copy.deepcopy(load_event("clone-refresh.json"))
    event["refresh"]["replaces"] = "reports-dev"
    event["source"]["clusterIdentifier"] = "legacy-reports"
    with running_twin("clones.json") as twin:
        # When a refresh is asked to replace it
        description, _, after = _refused(twin, event)
    # Then it is refused before anything is made, and the hand-made cluster is untouched
    assert description["error"] == "CloneNotAllowedError"
    assert "reports-dev was not made by aurora-ferry" in description["cause"]
    assert _cluster(after, PROD, "reports-dev") is not None


# ----------------------------------------------------------------------------------------------- CLI


def test_ferry_local_run_runs_a_clone_input_in_the_clones_world(capsys: pytest.CaptureFixture[str]) -> None:
    from ferry_cli.cli import main
    from tests.conftest import REPO

    # Given a clone sample and no --world
    # When `ferry local run` runs it
    status = main(["local", "run", "--input", str(REPO / "events/clone-cross-account.json")])
    printed = capsys.readouterr().out
    # Then it ran the clone state machine in worlds/clones.json, and printed the clone's summary
    assert status == 0, printed
    assert "twin: clones:" in printed
    assert "[" in printed and "] InspectCloneSource" in printed
    assert f"cross-account clone {DEV}: arn:aws:rds:eu-west-1:{DEV}:cluster:orders-dev" in printed
    assert "CrossAccountClone: True" in printed
    assert "cleanup: unshared arn:aws:ram:eu-west-1:111111111111:resource-share/" in printed


def test_ferry_local_run_prints_a_refused_clone(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    from ferry_cli.cli import main

    # Given a clone of a cluster without instances
    raw = copy.deepcopy(load_event("clone-same-account.json"))
    raw["source"]["clusterIdentifier"] = "orders-archive"
    path = tmp_path / "clone.json"
    path.write_text(json.dumps(raw))
    # When it is run
    status = main(["local", "run", "--input", str(path)])
    printed = capsys.readouterr().out
    # Then the exit status is 1 and the failing state, error and cause are printed
    assert status == 1
    assert "FAILED in state InspectCloneSource" in printed
    assert "error: CloneNotAllowedError" in printed


def test_ferry_validate_checks_a_clone_input(capsys: pytest.CaptureFixture[str]) -> None:
    from ferry_cli.cli import main
    from tests.conftest import REPO

    status = main(["validate", "--input", str(REPO / "events/clone-refresh.json")])
    normalised = json.loads(capsys.readouterr().out)
    assert status == 0
    assert normalised["refresh"] == {"replaces": "orders-dev", "keepName": False}
    assert normalised["sharing"] == {"allowExternalPrincipals": False}


# ------------------------------------------------------------------------------------- refresh: deletions


def test_a_refresh_waits_while_the_old_dev_clone_is_deleting() -> None:
    # Given a first refresh that made the dev clone, in a twin where deleting an instance takes 300 twin seconds
    # and deleting a cluster 120 (as in AWS, both stay "deleting" for a while before they are gone)
    instance_delete, cluster_delete = 300, 120
    event = load_event("clone-refresh.json")
    interval = event["options"]["pollIntervalSeconds"]
    with running_twin(
        "clones.json", durations={"instance_delete": instance_delete, "cluster_delete": cluster_delete}
    ) as twin:
        first, _, _ = _run(twin, event, name="refresh-week-1")
        assert first["status"] == "SUCCEEDED", first.get("cause")
        old_id = f"orders-dev-{short_run_id('refresh-week-1')}"
        # When the next refresh runs
        description, _, after = _run(twin, event, name="refresh-week-2")
        history = twin.history(description["executionArn"])
    # Then it succeeds, and the old dev clone and its instance are gone
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert _cluster(after, PROD, old_id) is None
    assert _instances(after, PROD, old_id) == []
    # And it waited for the old instance, then for the old cluster, to go: one wait per poll interval while it
    # was deleting (the deletions start and end at whole twin seconds, so the counts are exact)
    assert _entered(history, "WaitForRetiredInstances") == instance_delete // interval
    assert _entered(history, "WaitForRetiredClusters") == cluster_delete // interval
    assert _entered(history, "CheckRetiredInstances") == instance_delete // interval + 1
    assert _entered(history, "CheckRetiredClusters") == cluster_delete // interval + 1
    # And the cluster was deleted only once its instance was gone, and the run moved on once the cluster was gone
    entered = {
        e["stateEnteredEventDetails"]["name"]: e["timestamp"]
        for e in history
        if e["type"].endswith("StateEntered")
    }
    assert (entered["RetireOldClusters"] - entered["RetireOldInstances"]).total_seconds() == instance_delete
    assert (entered["MarkRetired"] - entered["RetireOldClusters"]).total_seconds() == cluster_delete


def test_a_retried_retirement_of_a_cluster_already_deleting_counts_it_as_retired() -> None:
    # Given a refresh whose cluster retirement runs twice, as Step Functions retries a task whose answer was lost
    # after the delete went through (the second call finds the old cluster "deleting")
    box: dict[str, Any] = {}

    def retire(event: dict[str, Any], context: Any) -> Any:
        twin = box["twin"]
        spec = twin.template.functions["RetireDevClusterFunction"]
        handler = getattr(twin._handler_module(spec), spec.handler_name)
        if event.get("action") == "delete-clusters":
            handler(event, context)
        return handler(event, context)

    event = load_event("clone-refresh.json")
    with running_twin("clones.json", handler_overrides={"RetireDevClusterFunction": retire}) as twin:
        box["twin"] = twin
        first, _, _ = _run(twin, event, name="refresh-week-1")
        assert first["status"] == "SUCCEEDED", first.get("cause")
        old_id = f"orders-dev-{short_run_id('refresh-week-1')}"
        # When the next refresh retires the old dev clone
        description, _, after = _run(twin, event, name="refresh-week-2")
    # Then the second call counts the deleting cluster as retired, and the refresh succeeds with it gone
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    assert output["refresh"]["retiredClusterArns"] == [f"arn:aws:rds:eu-west-1:{PROD}:cluster:{old_id}"]
    assert _cluster(after, PROD, old_id) is None
