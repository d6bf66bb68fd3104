"""The shipped member templates grant exactly what each run needs: remove one statement and a named run fails.

Each case deploys a copy of member-accounts/ with one statement (or one action of a statement) taken out,
runs one sample, and expects the run to fail with AWS's access-denied answer naming the missing action.
The same mutated world with the twin's IAM switched off succeeds, so each case fails without enforcement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_event, mutated_member_templates, running_twin

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Mutation:
    template: str  # "source-account" or "target-account"
    sid: str  # the statement taken out of the member role's policies
    event: str
    world: str
    denied: str  # the action the run's failure must name
    before: tuple[str, ...] = ()  # samples run first (they must succeed): what the run then replaces

    @property
    def id(self) -> str:
        return f"{self.template}:{self.sid}:{self.event.removesuffix('.json')}"


MIGRATE = ("migrate-cmk.json", "two-accounts.json")
# A target that keeps its copy copies the shared snapshot before restoring it (the default restores it directly).
KEEP_COPIES = ("migrate-keep-copies.json", "two-accounts.json")
# A DR target in another Region copies the source's snapshot across Regions, named in the source's Region.
CROSS_REGION = ("migrate-cross-region.json", "two-regions.json")
# A DR target in another Region reads the source account's copy there (options.crossRegionCopy "two-step").
TWO_STEP = ("migrate-cross-region-two-step.json", "two-step-regions.json")
CLONE = ("clone-cross-account.json", "clones.json")
CLONE_EXTERNAL = ("clone-cross-account-external.json", "clones.json")
CLONE_SAME = ("clone-same-account.json", "clones.json")
# A refresh in place replaces the cluster its first run made.
REFRESH = ("migrate-refresh-in-place.json", "two-accounts.json")
# A dev refresh that keeps the name renames its clone into it (the first time too), and the old one aside.
KEEP_NAME = ("clone-refresh-keep-name.json", "clones.json")
# A source whose maintenance window a restore cannot carry: the run applies it with ModifyDBCluster after the restore.
CARRIED = ("migrate-cmk.json", "carried-settings.json")
# A source with custom cluster and instance parameter groups, which the run recreates in the target.
GROUPS = ("migrate-parameter-groups.json", "parameter-groups.json")
# A Serverless v2 source whose reader has Enhanced Monitoring: the target's reader gets the target's monitoring role.
MONITORED = ("migrate-serverless-v2.json", "serverless-v2.json")
# A same-account clone of a source whose instances have Enhanced Monitoring: the source account's monitoring role.
CLONE_MONITORED = ("clone-same-account-mirrored.json", "serverless-v2.json")

MUTATIONS = [
    Mutation("source-account", "CreateOnlyTaggedSnapshots", *MIGRATE, "rds:CreateDBClusterSnapshot"),
    Mutation("source-account", "TagOnlyAsManaged", *MIGRATE, "rds:AddTagsToResource"),
    Mutation(
        "source-account",
        "ShareAndDeleteOnlyManagedSnapshots",
        *MIGRATE,
        "rds:ModifyDBClusterSnapshotAttribute",
    ),
    Mutation("target-account", "CopyOnlyIntoTaggedSnapshots", *KEEP_COPIES, "rds:CopyDBClusterSnapshot"),
    Mutation("target-account", "CopyOnlyIntoTaggedSnapshots", *CROSS_REGION, "rds:CopyDBClusterSnapshot"),
    Mutation("target-account", "UseSourceShareKeyThroughRds", *CROSS_REGION, "kms:Decrypt"),
    Mutation("target-account", "UseSourceShareKeyThroughRds", *MIGRATE, "kms:Decrypt"),
    Mutation("target-account", "GrantSourceShareKeyToRds", *MIGRATE, "kms:CreateGrant"),
    Mutation("target-account", "RestoreFromLocalCopies", *MIGRATE, "rds:RestoreDBClusterFromSnapshot"),
    Mutation("target-account", "RestoreFromLocalCopies", *KEEP_COPIES, "rds:RestoreDBClusterFromSnapshot"),
    Mutation("target-account", "RestoreFromSharedSnapshots", *MIGRATE, "rds:RestoreDBClusterFromSnapshot"),
    Mutation("source-account", "CopyIntoCopyRegionsOnlyTagged", *TWO_STEP, "rds:CopyDBClusterSnapshot"),
    Mutation("source-account", "TagInCopyRegionsOnlyAsManaged", *TWO_STEP, "rds:AddTagsToResource"),
    Mutation(
        "source-account",
        "ShareAndDeleteOnlyManagedSnapshotsInCopyRegions",
        *TWO_STEP,
        "rds:ModifyDBClusterSnapshotAttribute",
    ),
    Mutation("source-account", "GrantCopyRegionShareKeysToRds", *TWO_STEP, "kms:CreateGrant"),
    Mutation("target-account", "RestoreFromSharedSnapshots", *TWO_STEP, "rds:RestoreDBClusterFromSnapshot"),
    Mutation("target-account", "CreateRdsServiceLinkedRole", *MIGRATE, "iam:CreateServiceLinkedRole"),
    Mutation("target-account", "CreateClusterInstances", *MIGRATE, "rds:CreateDBInstance"),
    Mutation("target-account", "PassMonitoringRole", *MONITORED, "iam:PassRole"),
    Mutation("source-account", "PassMonitoringRole", *CLONE_MONITORED, "iam:PassRole"),
    Mutation("source-account", "ShareClustersOnlyInTaggedShares", *CLONE, "ram:CreateResourceShare"),
    Mutation("source-account", "TagSharesOnlyAsManaged", *CLONE, "ram:TagResource"),
    Mutation(
        "target-account",
        "AcceptInvitationsFromSourceAccount",
        *CLONE_EXTERNAL,
        "ram:AcceptResourceShareInvitation",
    ),
    Mutation("target-account", "CloneOnlyIntoTaggedClusters", *CLONE, "rds:RestoreDBClusterToPointInTime"),
    Mutation("target-account", "GrantSourceClusterKeysToRds", *CLONE, "kms:CreateGrant"),
    Mutation(
        "source-account", "CloneOnlyIntoTaggedClusters", *CLONE_SAME, "rds:RestoreDBClusterToPointInTime"
    ),
    # Every restored cluster and clone gets master credentials of its own (ModifyDBCluster with
    # ManageMasterUserPassword) before any rename, so the statement that also allows a refresh's renames is needed
    # by every run, a refresh's first one too (README "Master credentials").
    Mutation("target-account", "RenameOnlyManagedClusters", *MIGRATE, "rds:ModifyDBCluster"),
    Mutation("target-account", "RenameOnlyManagedClusters", *CLONE, "rds:ModifyDBCluster"),
    Mutation("target-account", "CreateOnlyRdsMasterUserSecrets", *MIGRATE, "secretsmanager:CreateSecret"),
    Mutation("target-account", "CreateOnlyRdsMasterUserSecrets", *CLONE, "secretsmanager:CreateSecret"),
    Mutation("target-account", "UseTargetKeyThroughSecretsManager", *MIGRATE, "kms:GenerateDataKey"),
    Mutation("target-account", "UseTargetKeyThroughSecretsManager", *CLONE, "kms:GenerateDataKey"),
    Mutation("source-account", "CreateOnlyRdsMasterUserSecrets", *CLONE_SAME, "secretsmanager:CreateSecret"),
    Mutation("target-account", "RenameOnlyManagedClusters", *CARRIED, "rds:ModifyDBCluster"),
    Mutation("source-account", "ReadParameterGroups", *GROUPS, "rds:DescribeDBClusterParameterGroups"),
    # (The target's cluster group is found absent through ReadClustersAndSnapshots; its instance group is not.)
    Mutation("target-account", "ReadParameterGroups", *GROUPS, "rds:DescribeDBParameterGroups"),
    Mutation(
        "target-account", "CreateOnlyTaggedParameterGroups", *GROUPS, "rds:CreateDBClusterParameterGroup"
    ),
    Mutation(
        "target-account", "ChangeOnlyManagedParameterGroups", *GROUPS, "rds:ModifyDBClusterParameterGroup"
    ),
    Mutation("source-account", "RenameOnlyManagedClusters", *KEEP_NAME, "rds:ModifyDBCluster"),
    Mutation(
        "target-account",
        "FinalSnapshotOfReplacedClusters",
        *REFRESH,
        "rds:CreateDBClusterSnapshot",
        REFRESH[:1],
    ),
]


def _run(mutation: Mutation, folder: Path, *, enforce_iam: bool) -> dict[str, Any]:
    machine = "CloneStateMachine" if mutation.event.startswith("clone") else "MigrationStateMachine"
    with running_twin(world=mutation.world, enforce_iam=enforce_iam, member_templates=folder) as twin:
        for sample in mutation.before:
            first = twin.wait(twin.start(load_event(sample), machine=machine), timeout_real_seconds=240)
            assert first["status"] == "SUCCEEDED", first.get("cause")
        description = twin.wait(
            twin.start(load_event(mutation.event), machine=machine), timeout_real_seconds=240
        )
    return dict(description)


@pytest.mark.parametrize("enforced", [True, False], ids=["enforced", "iam-off"])
@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_a_missing_statement_fails_the_run_naming_the_action(
    mutation: Mutation, enforced: bool, tmp_path: Path
) -> None:
    # Given the member templates without one statement
    folder = mutated_member_templates(tmp_path, mutation.template, mutation.sid)
    # When the sample runs, under the twin's IAM or with it switched off
    description = _run(mutation, folder, enforce_iam=enforced)
    if enforced:
        # Then it fails naming the action the statement granted: in Preflight, before anything is created,
        # where the plan's permission table covers the call (naming the statement to restore), else with
        # AWS's own refusal of the call
        assert description["status"] == "FAILED"
        cause = description.get("cause", "")
        if description["error"] == "PreflightFailedError" and "may not use key" in cause:
            # (a key's use through RDS, judged by the key checks: the action refused and the statements to add)
            assert f"{mutation.denied} (implicitDeny)" in cause, cause
            assert f"statements {mutation.sid} of member-accounts/{mutation.template}.yaml" in cause, cause
        elif description["error"] == "PreflightFailedError":
            assert f"may not perform {mutation.denied} " in cause, cause
            assert f"member-accounts/{mutation.template}.yaml: {mutation.sid}" in cause, cause
        else:
            assert f"perform: {mutation.denied} " in cause, cause
    else:
        # Then the run succeeds: only the twin's IAM can see the missing grant, so the case above fails
        # without it
        assert description["status"] == "SUCCEEDED", description.get("cause")
