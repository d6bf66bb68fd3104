"""Retention in the twin, under the shipped IAM: a weekly migration with options.keepTargetCopies leaves only the
newest N copies of its target cluster in the target account (events/migrate-keep-copies.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aurora_ferry.core import naming
from ferry_cli.template import load_cfn_yaml
from ferry_cli.twin.stacks import without_statements
from tests.conftest import REPO, load_event, run_twin_until, running_twin

pytestmark = pytest.mark.e2e

SAMPLE = "migrate-keep-copies.json"
TARGET = "222222222222"
TARGET_ROLE = "arn:aws:iam::222222222222:role/aurora-ferry-target"


def _run(twin: Any, event: dict[str, Any]) -> dict[str, Any]:
    description = twin.wait(twin.start(event), timeout_real_seconds=240)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output: dict[str, Any] = json.loads(description["output"])
    return output


def _retire_target_cluster(twin: Any, cluster: str, instance_count: int) -> None:
    """What the operator (or a refresh in place) does before the next week's run: the old cluster goes, so the
    same input can restore the same name again. The tool itself never deletes a target cluster."""
    rds = twin.client("rds", TARGET)
    for index in range(instance_count):
        rds.delete_db_instance(
            DBInstanceIdentifier=naming.instance_id(cluster, index), SkipFinalSnapshot=True
        )

    def instances_gone() -> bool:
        found = rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [cluster]}])
        return not found["DBInstances"]

    run_twin_until(twin, instances_gone)
    rds.delete_db_cluster(DBClusterIdentifier=cluster, SkipFinalSnapshot=True)

    def cluster_gone() -> bool:
        try:
            rds.describe_db_clusters(DBClusterIdentifier=cluster)
        except ClientError as error:
            return error.response["Error"]["Code"] == "DBClusterNotFoundFault"
        return False

    run_twin_until(twin, cluster_gone)
    # AWS removes a cluster's automated backups with it unless told otherwise (DeleteDBCluster,
    # DeleteAutomatedBackups: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBCluster.html);
    # moto keeps them, and the next restore of the same name would collide with their names.
    from moto.rds.models import rds_backends

    snapshots = rds_backends[TARGET][twin.world.region].cluster_snapshots
    for identifier in [i for i in snapshots if i.startswith(f"rds:{cluster}-")]:
        del snapshots[identifier]


def _copies_of(twin: Any, cluster: str) -> set[str]:
    """The target account's snapshots that are kept target copies of `cluster`, by ARN."""
    rds = twin.client("rds", TARGET)
    found = set()
    for snapshot in rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]:
        arn = snapshot["DBClusterSnapshotArn"]
        if naming.is_target_copy_of(rds.list_tags_for_resource(ResourceName=arn)["TagList"], cluster):
            found.add(arn)
    return found


def test_three_weekly_runs_leave_the_newest_two_copies_of_the_target_cluster() -> None:
    event = load_event(SAMPLE)
    target = event["targets"][0]
    assert event["options"]["keepTargetCopies"] == 2
    with running_twin() as twin:
        # Given the same input run three times, the target cluster retired between runs
        outputs = []
        for week in range(3):
            if week:
                _retire_target_cluster(twin, target["clusterIdentifier"], target["instanceCount"])
            outputs.append(_run(twin, event))
        copies = [output["targets"][0]["snapshotCopyArn"] for output in outputs]
        left = _copies_of(twin, target["clusterIdentifier"])
        denials = list(twin.iam.denials)
    # Then the newest two copies are left, the first one was deleted by the third run and reported in its summary
    assert len(set(copies)) == 3
    assert left == {copies[1], copies[2]}
    retired = [a for a in outputs[2]["cleanup"]["actions"] if a["action"] == "deleted-older-copy"]
    assert [(a["accountId"], a["arn"]) for a in retired] == [(TARGET, copies[0])]
    # ... the second run had nothing to retire yet (two copies), and nothing any run did was refused
    assert not [a for a in outputs[1]["cleanup"]["actions"] if a["action"] == "deleted-older-copy"]
    assert denials == []


def _without(tmp_path: Path, sid: str) -> Path:
    folder = tmp_path / "member-accounts"
    folder.mkdir()
    for name in ("source-account", "target-account"):
        template = load_cfn_yaml(REPO / "member-accounts" / f"{name}.yaml")
        if name == "target-account":
            template = without_statements(template, [sid])
        (folder / f"{name}.yaml").write_text(json.dumps(template), encoding="utf-8")
    return folder


@pytest.mark.parametrize("enforced", [True, False], ids=["enforced", "iam-off"])
def test_retention_needs_the_target_roles_delete_grant(enforced: bool, tmp_path: Path) -> None:
    # Given the target template without the statement that lets the role delete managed snapshots
    folder = _without(tmp_path, "DeleteOnlyManagedSnapshots")
    with running_twin(enforce_iam=enforced, member_templates=folder) as twin:
        # When the retention sample runs
        description = twin.wait(twin.start(load_event(SAMPLE)), timeout_real_seconds=240)
    if enforced:
        # Then preflight refuses it before anything is made, naming the action and the statement to restore
        assert description["status"] == "FAILED"
        cause = description.get("cause", "")
        assert "may not perform rds:DeleteDBClusterSnapshot " in cause, cause
        assert "member-accounts/target-account.yaml: DeleteOnlyManagedSnapshots" in cause, cause
    else:
        # Then, with the twin's IAM off, it succeeds: only the IAM sees the missing grant
        assert description["status"] == "SUCCEEDED", description.get("cause")


def _as_target_role(twin: Any) -> Any:
    """The target member role, assumed the way the cleanup function assumes it."""
    import boto3

    event = load_event(SAMPLE)
    with twin.iam.acting_as("CleanupFunction"):
        credentials = boto3.client("sts", region_name=twin.world.region).assume_role(
            RoleArn=TARGET_ROLE, RoleSessionName="aurora-ferry", ExternalId=event["targets"][0]["externalId"]
        )["Credentials"]
    return boto3.client(
        "rds",
        region_name=twin.world.region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_the_target_role_tags_a_kept_copy_with_its_cluster_only_in_a_managed_request() -> None:
    with running_twin() as twin:
        # Given a kept target copy of a run
        output = _run(twin, load_event(SAMPLE))
        copy = output["targets"][0]["snapshotCopyArn"]
        cluster_tag = [{"Key": naming.TARGET_CLUSTER_TAG, "Value": "someone-elses-cluster"}]
        with twin.iam.acting_as("CleanupFunction"):
            rds = _as_target_role(twin)
            # When the target role adds the cluster tag alone / Then the grant (TagOnlyAsManaged) refuses it
            with pytest.raises(ClientError) as raised:
                rds.add_tags_to_resource(ResourceName=copy, Tags=cluster_tag)
            # And with the managed tag repeated, as the cleanup sends it, it is allowed
            managed = [{"Key": naming.MANAGED_TAG, "Value": "true"}]
            rds.add_tags_to_resource(ResourceName=copy, Tags=managed + cluster_tag)
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert "rds:AddTagsToResource" in raised.value.response["Error"]["Message"]
