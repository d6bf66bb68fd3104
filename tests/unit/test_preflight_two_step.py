"""The preflight and plan of a two-step cross-Region copy (options.crossRegionCopy "two-step"), in the twin
(worlds/two-step-regions.json: prod 111111111111 in eu-west-1 with its regional share key in eu-central-1, and the
DR target 555555555555 in eu-central-1), and the decisions it rests on (README "Cross-Region targets").

The source account is checked in each Region it copies into, through its own role there: the regional share key
(exists, enabled, customer managed, symmetric; its policy admits each target of the Region through RDS there), the
source role's use of it, every call the run makes there (aws:RequestedRegion that Region), its snapshot quota and
copy queue there. Each target is checked against the snapshot it really reads: the regional copy, by its ARN in
its Region, under the regional key.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest

from aurora_ferry.core import naming
from aurora_ferry.migration import parse_migration_request
from aurora_ferry.preflight import Finding, PreflightReport, run_preflight
from aurora_ferry.preflight.copy_regions import region_needs
from aurora_ferry.preflight.permissions import REQUESTED_REGION, Arns
from tests.conftest import REPO, fill_copy_queue, load_event, someone_elses_snapshot

pytestmark = pytest.mark.unit

WORLD = "two-step-regions.json"
A = "eu-west-1"
B = "eu-central-1"
PROD = "111111111111"
DR = "555555555555"
SHARE_KEY = f"arn:aws:kms:{A}:{PROD}:key/0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a11"
REGION_KEY_ID = "9c4e2a71-5b3d-4e8f-a6c1-3d7b0e2f8a44"
REGION_KEY = f"arn:aws:kms:{B}:{PROD}:key/{REGION_KEY_ID}"
SOURCE_ROLE = f"arn:aws:iam::{PROD}:role/aurora-ferry-source"
RUN = "<run-id>"
REGION_COPY_ARN = f"arn:aws:rds:{B}:{PROD}:cluster-snapshot:{naming.region_copy_id(RUN)}"


# ---------------------------------------------------------------------------------------------- helpers


def two_step(cleanup: str = "delete", cluster: str = "orders") -> dict[str, Any]:
    event = copy.deepcopy(load_event("migrate-cross-region-two-step.json"))
    event["options"]["crossRegionCopy"] = "two-step"
    event["options"]["cleanup"] = cleanup
    event["source"]["clusterIdentifier"] = cluster
    return event


def _world(
    *,
    source_parameters: dict[str, str] | None = None,
    omit: tuple[str, ...] = (),
    target_parameters: dict[str, str] | None = None,
    target_omit: tuple[str, ...] = (),
    quotas: dict[str, int] | None = None,
) -> Any:
    """The shipped world, with the source stack's or the DR stack's parameters overridden or statements left out,
    or the source account's quotas set."""
    from ferry_cli.twin.world import load_world

    world = load_world(REPO / "worlds" / WORLD)

    def changed(account: Any) -> Any:
        stack = account.member_stack
        if account.account_id == PROD:
            stack = dataclasses.replace(
                stack,
                parameters={**stack.parameters, **(source_parameters or {})},
                omit_statements=omit,
            )
            return dataclasses.replace(
                account, member_stack=stack, quotas={**account.quotas, **(quotas or {})}
            )
        stack = dataclasses.replace(
            stack,
            parameters={**stack.parameters, **(target_parameters or {})},
            omit_statements=target_omit,
        )
        return dataclasses.replace(account, member_stack=stack)

    return dataclasses.replace(world, accounts=tuple(changed(a) for a in world.accounts))


@contextmanager
def twin_of(world: Any = None) -> Iterator[Any]:
    from ferry_cli.twin.runtime import Twin

    with Twin.started(world or _world(), REPO / "template.yaml") as twin:
        yield twin


def preflight(twin: Any, event: dict[str, Any]) -> PreflightReport:
    """Preflight as the PreflightFunction runs it, under that function's role."""
    with twin.iam.acting_as("PreflightFunction"):
        return run_preflight(parse_migration_request(event))


def found(report: PreflightReport, check: str, severity: str | None = None) -> list[Finding]:
    return [f for f in report.findings if f.check == check and (severity is None or f.severity == severity)]


# ------------------------------------------------------------------------------------ pure decisions


def test_the_source_roles_calls_in_a_copy_region_name_both_snapshots_and_the_region() -> None:
    # Given the source's share copy in eu-west-1 / When the needs of its copy into eu-central-1 are listed
    needs = region_needs(Arns("aws", B, PROD), naming.share_copy_id(RUN), RUN, A)
    # Then the copy is authorised on the share copy in eu-west-1 and on the regional copy in eu-central-1, tagged
    copies = {
        (n.resource, n.statement.split(": ")[1]) for n in needs if n.action == "rds:CopyDBClusterSnapshot"
    }
    assert copies == {
        (f"arn:aws:rds:{A}:{PROD}:cluster-snapshot:{naming.share_copy_id(RUN)}", "CreateOnlyTaggedSnapshots"),
        (REGION_COPY_ARN, "CopyIntoCopyRegionsOnlyTagged"),
    }
    tagged = [n for n in needs if n.action in ("rds:CopyDBClusterSnapshot", "rds:AddTagsToResource")]
    assert all(("aws:RequestTag/aurora-ferry:managed", ("true",)) in n.context for n in tagged)
    # And its share and delete only a managed snapshot, in eu-central-1
    managed = {n.action for n in needs if ("aws:ResourceTag/aurora-ferry:managed", ("true",)) in n.context}
    assert managed == {"rds:ModifyDBClusterSnapshotAttribute", "rds:DeleteDBClusterSnapshot"}
    assert {n.resource.split(":")[3] for n in needs} == {A, B}
    # (the Region of each call, aws:RequestedRegion, is added when they are simulated in the copy Region's account)
    assert not any(key == REQUESTED_REGION for n in needs for key, _ in n.context)


# ------------------------------------------------------------------------------------------ in the twin


def test_a_correct_two_step_input_passes_with_every_check_of_the_copy_region() -> None:
    with twin_of() as twin:
        # Given the shipped world and a two-step input / When preflight runs
        report = preflight(twin, two_step())

    # Then nothing is an error or a warning
    assert report.ok, [str(f) for f in report.errors]
    assert [str(f) for f in report.findings if f.severity == "warning"] == []
    # And the source account was checked in eu-central-1: its regional key admits DR there, the source role may
    # use it through RDS there, and every call it makes there is allowed (simulated with aws:RequestedRegion)
    (policy,) = found(report, "share-key-policy")
    assert (policy.severity, policy.account_id, policy.resource) == ("info", DR, REGION_KEY)
    assert "through rds.eu-central-1.amazonaws.com" in policy.message
    (use,) = found(report, "copy-key-use")
    assert (use.severity, use.account_id, use.resource) == ("info", PROD, REGION_KEY)
    permissions = {
        f.message.split(" in this account in ")[1].split(" ")[0] for f in found(report, "permissions")
    }
    assert permissions == {A, B}
    assert any(f"used in {B}" in f.message and "ferry-<run-id>-region" in f.message for f in report.findings)
    # And DR's own use is of the regional key (the key of the snapshot it reads), not the share key in eu-west-1
    (target_use,) = found(report, "share-key-use")
    assert (target_use.severity, target_use.resource) == ("info", REGION_KEY)


def test_the_source_regions_share_key_is_judged_only_for_the_targets_that_read_it_there() -> None:
    with twin_of() as twin:
        # Given a share key in eu-west-1 whose policy no longer admits DR
        kms = twin.client("kms", PROD)
        key_id = SHARE_KEY.rsplit("/", 1)[1]
        policy = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
        kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy.replace(DR, "999999999999"))
        # When preflight runs for DR copying in two steps, and in one step
        two = preflight(twin, two_step())
        one_event = two_step()
        one_event["options"]["crossRegionCopy"] = "one-step"
        del one_event["regionalShareKmsKeyArns"]
        one = preflight(twin, one_event)

    # Then only the one-step run is refused the share key: in two steps DR reads the regional copy, under the
    # regional key (the one-step run is refused more: DR's stack is deployed for the regional copy)
    assert two.ok, [str(f) for f in two.errors]
    assert ("share-key-policy", DR, SHARE_KEY) in [(f.check, f.account_id, f.resource) for f in one.errors]


def _simulated(twin: Any, event: dict[str, Any]) -> set[tuple[str, str]]:
    """(action, resource) of every authorisation the preflight simulates for the source role."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    seen: set[tuple[str, str]] = set()

    def spy(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "SimulatePrincipalPolicy" and params["PolicySourceArn"] == SOURCE_ROLE:
            seen.update((a, r) for a in params["ActionNames"] for r in params.get("ResourceArns", []))
        return original(client, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", spy):
        preflight(twin, event)
    return seen


def test_the_share_in_the_source_region_is_simulated_only_when_a_target_reads_it_there() -> None:
    one_event = two_step()
    one_event["options"]["crossRegionCopy"] = "one-step"
    del one_event["regionalShareKmsKeyArns"]
    share_copy = f"arn:aws:rds:{A}:{PROD}:cluster-snapshot:{naming.share_copy_id(RUN)}"
    with twin_of() as twin:
        # When preflight simulates the source role's calls for DR copying in two steps, and in one step
        two, one = _simulated(twin, two_step()), _simulated(twin, one_event)

    # Then the share copy in eu-west-1 is shared only for the one-step run; the two-step run shares the regional copy
    share = "rds:ModifyDBClusterSnapshotAttribute"
    assert {r for a, r in two if a == share} == {REGION_COPY_ARN}
    assert {r for a, r in one if a == share} == {share_copy}


@pytest.mark.parametrize("problem", ["missing", "disabled"])
def test_a_missing_or_disabled_regional_key_is_an_error_naming_the_field(problem: str) -> None:
    event = two_step()
    with twin_of() as twin:
        if problem == "missing":
            # Given a regional key ARN that names no key in eu-central-1
            key = REGION_KEY.replace("9c4e2a71", "00000000")
            event["regionalShareKmsKeyArns"][B] = key
        else:
            # Given the regional key disabled
            key = REGION_KEY
            twin.client("kms", PROD, region=B).disable_key(KeyId=REGION_KEY_ID)
        # When preflight runs
        report = preflight(twin, event)

    # Then the share-key check refuses it in eu-central-1, naming the key and what to fix
    (error,) = found(report, "share-key", "error")
    assert (error.account_id, error.resource) == (PROD, key)
    if problem == "missing":
        assert f"key {key} does not exist in account {PROD} {B}" in error.message
        assert f"regionalShareKmsKeyArns.{B}" in error.message
    else:
        assert "is Disabled" in error.message and "enable it" in error.message


def test_a_regional_key_whose_policy_lacks_a_target_of_its_region_is_an_error() -> None:
    with twin_of() as twin:
        # Given the regional key's policy admitting another account than DR
        kms = twin.client("kms", PROD, region=B)
        policy = kms.get_key_policy(KeyId=REGION_KEY_ID, PolicyName="default")["Policy"]
        kms.put_key_policy(
            KeyId=REGION_KEY_ID, PolicyName="default", Policy=policy.replace(DR, "999999999999")
        )
        # When preflight runs
        report = preflight(twin, two_step())

    # Then the error names DR, the regional key, every action it lacks and the stack that admits targets
    (error,) = report.errors
    assert (error.check, error.account_id, error.resource) == ("share-key-policy", DR, REGION_KEY)
    assert f"regionalShareKmsKeyArns.{B}" in error.message
    assert "kms:CreateGrant" in error.message and "kms:Decrypt" in error.message
    assert "TargetAccountIds of member-accounts/source-region-key.yaml" in error.message
    assert f"rds.{B}.amazonaws.com" in error.message


def test_a_source_stack_deployed_without_copy_regions_is_refused_its_copy_and_the_key() -> None:
    # Given the source stack deployed without CopyRegions and CopyRegionShareKeyArns (its statements for other
    # Regions are left out)
    world = _world(source_parameters={"CopyRegions": "", "CopyRegionShareKeyArns": ""})
    with twin_of(world) as twin:
        # When preflight runs
        report = preflight(twin, two_step())

    # Then the copy into eu-central-1, its tags, the share and delete there are errors naming the statements
    refused = {
        (f.resource, f.message.split("Add or restore the statement ")[1].split(" ")[1])
        for f in report.errors
        if f.check == "permissions"
    }
    assert (REGION_COPY_ARN, "CopyIntoCopyRegionsOnlyTagged") in refused
    assert (REGION_COPY_ARN, "TagInCopyRegionsOnlyAsManaged") in refused
    assert (REGION_COPY_ARN, "ShareAndDeleteOnlyManagedSnapshotsInCopyRegions") in refused
    assert all(f.account_id == PROD for f in report.errors)
    # And the source role's use of the regional key is refused, naming the statements and the parameters
    (key_use,) = found(report, "copy-key-use", "error")
    assert key_use.resource == REGION_KEY
    assert "UseCopyRegionShareKeysThroughRds" in key_use.message
    assert "GrantCopyRegionShareKeysToRds" in key_use.message
    assert "CopyRegionShareKeyArns" in key_use.message


@pytest.mark.parametrize(
    ("statement", "action"),
    [
        ("CopyIntoCopyRegionsOnlyTagged", "rds:CopyDBClusterSnapshot"),
        ("TagInCopyRegionsOnlyAsManaged", "rds:AddTagsToResource"),
        ("ReadSnapshotsInCopyRegions", "rds:DescribeDBClusterSnapshots"),
        ("ShareAndDeleteOnlyManagedSnapshotsInCopyRegions", "rds:ModifyDBClusterSnapshotAttribute"),
    ],
)
def test_each_copy_region_statement_left_out_is_an_error_naming_it(statement: str, action: str) -> None:
    # Given the source stack without one of its statements for the copy Regions
    with twin_of(_world(omit=(statement,))) as twin:
        report = preflight(twin, two_step())

    # Then the run's calls it grants in eu-central-1 are errors naming it, and nothing else is refused
    assert report.errors
    assert {f.check for f in report.errors} == {"permissions"}
    assert all(f"member-accounts/source-account.yaml: {statement}" in f.message for f in report.errors)
    assert any(f"may not perform {action} on arn:aws:rds:{B}:{PROD}:" in f.message for f in report.errors)


def test_a_target_is_checked_against_the_regional_copy_it_restores_from() -> None:
    # Given DR's stack without the statement that lets it restore from the source's snapshots
    with twin_of(_world(target_omit=("RestoreFromSharedSnapshots",))) as twin:
        report = preflight(twin, two_step())

    # Then its restore is refused on the regional copy, by its ARN in eu-central-1 (not the share copy in eu-west-1)
    (error,) = report.errors
    assert (error.check, error.account_id, error.resource) == ("permissions", DR, REGION_COPY_ARN)
    assert "rds:RestoreDBClusterFromSnapshot" in error.message
    assert "RestoreFromSharedSnapshots" in error.message


def test_a_target_stack_given_the_source_regions_share_key_cannot_use_the_regional_one() -> None:
    # Given DR's stack deployed with the share key of eu-west-1 as SourceShareKeyArn (as for a one-step copy)
    with twin_of(_world(target_parameters={"SourceShareKeyArn": SHARE_KEY})) as twin:
        report = preflight(twin, two_step())

    # Then DR's use of the regional key, the key of the snapshot it reads, is an error naming the fix
    (error,) = found(report, "share-key-use", "error")
    assert (error.account_id, error.resource) == (DR, REGION_KEY)
    assert f"SourceShareKeyArn must be {REGION_KEY}" in error.message
    assert f"kms:ViaService rds.{B}.amazonaws.com" in error.message


def test_a_full_copy_queue_of_the_source_in_the_copy_region_is_a_warning() -> None:
    with twin_of() as twin:
        # Given the source account with five cluster snapshot copies in progress in eu-central-1
        fill_copy_queue(someone_elses_snapshot(twin, PROD, region=B))
        # When preflight runs
        report = preflight(twin, two_step())

    # Then its copy there is warned to queue, naming the account and the Region; the run is not refused
    (warning,) = found(report, "copy-queue")
    assert (warning.severity, warning.account_id, warning.resource) == ("warning", PROD, B)
    assert f"has 5 cluster snapshot copies in progress in {B}" in warning.message
    assert report.ok


def test_the_source_at_its_snapshot_quota_in_the_copy_region_is_an_error_there() -> None:
    # Given the source account allowed 2 manual cluster snapshots per Region, with 2 already in eu-central-1
    with twin_of(_world(quotas={"ManualClusterSnapshots": 2})) as twin:
        rds = someone_elses_snapshot(twin, PROD, region=B)
        rds.create_db_cluster_snapshot(DBClusterIdentifier="scratch", DBClusterSnapshotIdentifier="scratch-2")
        twin.rules.settle_all()
        report = preflight(twin, two_step())

    # Then the copy there is refused (the 2 snapshots in eu-west-1 fit)
    (error,) = report.errors
    assert (error.check, error.account_id) == ("snapshot-quota", PROD)
    assert f"has 2 manual cluster snapshots in {B} and may have 2" in error.message
    assert "ferry-<run-id>-region" in error.message


@pytest.mark.parametrize(
    ("cleanup", "then"),
    [("delete", "then restored directly"), ("keep-target-copies", "then copied here")],
)
def test_the_plan_says_how_a_two_step_target_gets_the_snapshot(
    cleanup: str, then: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from ferry_cli.cli import main

    # Given the two-step sample / When `ferry local plan` runs it
    event = tmp_path / "event.json"
    event.write_text(json.dumps(two_step(cleanup)), encoding="utf-8")
    status = main(["local", "plan", "--world", str(REPO / "worlds" / WORLD), "--input", str(event)])
    out = capsys.readouterr().out

    # Then it passes and says plainly: copied into eu-central-1 in the source account under the regional key,
    # shared there (with DR only; the share copy in eu-west-1 with no one), then copied or restored in DR
    assert status == 0, out
    assert (
        f"across Regions in two steps: copied from {A} into {B} in the source account under {REGION_KEY}, "
        f"shared there, {then}"
    ) in out
    assert (
        f"CopyToRegion: action: for {DR}: copy arn:aws:rds:{A}:{PROD}:cluster-snapshot:ferry-<run-id>-share"
        in out
    )
    assert f"ShareInRegion: action: add {DR} to the restore attribute of ferry-<run-id>-region in {B}" in out
    assert "ShareSnapshot: action: share ferry-<run-id>-share with no account" in out
    assert f"ferry-<run-id>-region in {B} from the targets and delete them" in out
    assert "(across accounts and Regions in one step)" not in out
