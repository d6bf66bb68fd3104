"""The migration workflow, generated into statemachine/migrate.asl.json (README "How it works")."""

from __future__ import annotations

from collections.abc import Callable

from ferry_cli.asl.builder import Flow, State, machine, params, run
from ferry_cli.asl.park import add_park_path

COMMENT = "aurora-ferry: copy an Aurora cluster to 1-20 other accounts via a shared, re-encrypted snapshot."
# Bounds the whole run, whatever any single wait allows.
SEVEN_DAYS = 604800
POLL = "PollStatusFunctionArn"
REGISTER = "RegisterWaitFunctionArn"
# How many times Step Functions has retried the task: 0 on its first attempt.
ATTEMPT = "$$.State.RetryCount"


def _await(
    flow: Flow, key: str, noun: str, subject: State, event: str | None = None, *, when: State | None = None
) -> None:
    """`Flow.event_wait` on the migration's own poll and register functions, announced by `event` if any."""
    flow.event_wait(key, noun, subject, poll=POLL, register=REGISTER, event=event, when=when)


def _snapshot(access: str, identifier: str) -> State:
    """What a wait for a cluster snapshot has the poll function describe: `identifier`, reached with `access`."""
    return params(kind="snapshot", access=access, identifier=identifier)


def _target_result(
    found: str, endpoints: str, *, marks: State, comment: str | None = None, **more: str
) -> State:
    """A target's last state: its cluster and instances as `found` holds them ("$.poll" after a swap, the
    iteration's state otherwise), its endpoints from `endpoints`, the copy, the `marks`, and `more`."""
    # Identifiers, not ARNs: the summary rebuilds each ARN from the cluster's, and 20 targets of 16 instances carry
    # about 12 KiB less (README "Input contract", size budget).
    instances = "$.poll.instanceIdentifiers" if found == "$.poll" else "$.instances.instanceIdentifiers"
    state: State = {"Type": "Pass", **({"Comment": comment} if comment else {})}
    state["Parameters"] = {
        **params(
            accountId="$.accountId",
            cluster=f"{found}.cluster",
            endpoint=f"{endpoints}.endpoint",
            readerEndpoint=f"{endpoints}.readerEndpoint",
            **more,
        ),
        "copy": params(arn="$.copy.snapshot.arn", direct="$.copy.direct"),
        "instances": params(instanceIdentifiers=instances),
        "marks": marks,
    }
    state["End"] = True
    return state


def _configure_cluster(flow: Flow, in_target: Callable[..., None], access: str) -> None:
    """The source's settings only ModifyDBCluster takes (aurora_ferry.core.carry_plan), applied once the restored
    cluster is available; when there were any, the run waits until it is available again. No RDS event announces
    the end of a modification the run can rely on, so that wait polls."""
    in_target(
        "ConfigureCluster",
        "Applies the source's settings a restore does not take (ModifyDBCluster, at once); none: does nothing.",
        "ConfigureClusterFunctionArn",
        params(
            configuration="$.configuration",
            clusterIdentifier="$.cluster.clusterIdentifier",
            engine="$.copy.snapshot.engine",
        ),
        "$.configured",
    )
    _wait_if_modified(
        flow,
        access,
        ("IsClusterConfigured", "Only a modified cluster is waited for.", "$.configured.modified"),
        "ClusterConfigured",
        "target cluster being configured",
        otherwise="MarkClusterConfigured",
    )
    flow.mark("clusterConfigured")


def _own_credentials(flow: Flow, in_target: Callable[..., None], access: str) -> None:
    """targets[].masterCredentials 'own' (README "Master credentials"): RDS manages the restored cluster's master
    password in the target's Secrets Manager under its key; the cluster is being modified meanwhile, so its
    instances (and a swap's renames) wait until it is available again."""
    in_target(
        "OwnCredentials",
        "Turns on RDS management of the master password, in the target's Secrets Manager under its key; with "
        "targets[].masterCredentials 'source' does nothing.",
        "OwnCredentialsFunctionArn",
        params(clusterIdentifier="$.cluster.clusterIdentifier"),
        "$.credentials",
    )
    _wait_if_modified(
        flow,
        access,
        ("IsModifyingCredentials", "Only a cluster being modified is waited for.", "$.credentials.modifying"),
        "Credentials",
        "target cluster being modified",
        otherwise="CreateInstances",
    )


def _apply_pending_parameters(flow: Flow, in_target: Callable[..., None], access: str) -> None:
    """An instance whose parameter group waits for a reboot (README "Parameter groups") is rebooted, and the
    rebooted ones are waited for; in the usual run there is none."""
    in_target(
        "ApplyPendingParameters",
        "Reboots the instances whose parameter group waits for a reboot (static parameters); usually none.",
        "ApplyPendingParametersFunctionArn",
        params(clusterIdentifier="$.cluster.clusterIdentifier"),
        "$.rebooted",
    )
    _wait_if(
        flow,
        ("IsRebooting", "Only rebooting instances are waited for.", "$.rebooted.rebooting"),
        "Rebooted",
        "rebooted target instances",
        params(kind="instances", access=access, identifiers="$.rebooted.instanceIdentifiers"),
        otherwise="MarkInstancesReady",
    )


def _wait_if_modified(
    flow: Flow, access: str, choice: tuple[str, str, str], key: str, noun: str, *, otherwise: str
) -> None:
    """After a step that may have modified the restored cluster: wait until it is available again only when it
    was (`_wait_if` on the cluster)."""
    subject = params(kind="cluster", access=access, identifier="$.cluster.clusterIdentifier")
    _wait_if(flow, choice, key, noun, subject, otherwise=otherwise)


def _wait_if(
    flow: Flow, choice: tuple[str, str, str], key: str, noun: str, subject: State, *, otherwise: str
) -> None:
    """The `choice` (name, comment, the step's flag) waits for `subject` (`key`, `noun`: the wait's) only when the
    step set its flag, else goes to `otherwise`."""
    name, comment, flag = choice
    flow.if_true(name, comment, flag, then=f"Choose{key}Wait", otherwise=otherwise)
    _await(flow, key, noun, subject)


def target_steps() -> Flow:
    """One Map iteration: copy, restore and add instances in one target account.

    A failed step fails the iteration with its account and step (TargetFailed), which fails the whole Map,
    whose Catch cleans up every target.
    """
    flow = Flow(failure="RecordTargetFailure", park="RecordTargetPause")
    target = run(accountId="$.accountId")
    # How the waits reach the target account, as the copy step returned it.
    access = "$.copy.access"

    def in_target(
        name: str, comment: str, resource: str, given: State, result: str, queued: bool = False
    ) -> None:
        """A task in the iteration's target account: its function is given the account, and `given`."""
        flow.task(name, comment, resource, {**target, **given}, timeout=300, result=result, queued=queued)

    in_target(
        "CopyToRegion",
        "With options.crossRegionCopy 'two-step', copies the share copy into the target's Region in the source "
        "account, under its share key there; for any other target does nothing.",
        "CopyToRegionFunctionArn",
        params(shared="$.shared"),
        "$.region",
        queued=True,
    )
    flow.if_true(
        "IsCopyingToRegion",
        'Only a target that copies in two steps waits for a copy in its Region (README "Cross-Region targets").',
        "$.region.twoStep",
        then="ChooseRegionCopyWait",
        otherwise="MarkRegionCopyReady",
    )
    _await(
        flow,
        "RegionCopy",
        "copy in the target's Region",
        _snapshot("$.region.access", "$.region.snapshot.identifier"),
    )
    in_target(
        "ShareInRegion",
        "Shares the copy in the target's Region with the targets there (again on a redrive, after a park).",
        "ShareSnapshotFunctionArn",
        params(snapshot="$.region.snapshot"),
        "$.region.shared",
    )
    flow.add(
        {
            "ReadFromRegionCopy": {
                "Type": "Pass",
                "Comment": "The target copies or restores the copy in its Region instead of the share copy.",
                "InputPath": "$.region.snapshot",
                "ResultPath": "$.shared",
                "Next": None,
            }
        }
    )
    flow.mark("regionCopyReady")
    in_target(
        "CopyToTarget",
        "Copies the shared snapshot by ARN, re-encrypted with the target key; with options.cleanup 'delete' "
        "only checks the target's name, for the restore reads the shared snapshot itself.",
        "CopyToTargetFunctionArn",
        params(shared="$.shared"),
        "$.copy",
        queued=True,
    )
    flow.if_true(
        "IsRestoringFromShare",
        'A target restoring straight from the shared snapshot has no copy to wait for (README "Direct restore").',
        "$.copy.direct",
        then="MarkTargetCopyReady",
        otherwise="ChooseTargetCopyWait",
    )
    _await(flow, "TargetCopy", "target snapshot copy", _snapshot(access, "$.copy.snapshot.identifier"))
    flow.mark("targetCopyReady")
    in_target(
        "ReplicateParameterGroups",
        "Recreates the source's custom cluster and instance parameter groups in the target (read with the source's "
        "role), or finds identical ones there; with targets[].parameterGroups 'default' does nothing.",
        "ReplicateParameterGroupsFunctionArn",
        params(configuration="$.configuration"),
        "$.parameterGroups",
    )
    in_target(
        "RestoreCluster",
        "Restores the target cluster (no instances yet) with the target key and the source's settings a restore "
        "takes.",
        "RestoreClusterFunctionArn",
        params(copy="$.copy.snapshot", configuration="$.configuration", parameterGroups="$.parameterGroups"),
        "$.cluster",
    )
    _await(
        flow,
        "Cluster",
        "target cluster",
        params(kind="cluster", access=access, identifier="$.cluster.clusterIdentifier"),
        "RDS-EVENT-0170 (DB cluster created)",
    )
    flow.mark_endpoints("clusterReady")
    _configure_cluster(flow, in_target, access)
    _own_credentials(flow, in_target, access)
    in_target(
        "CreateInstances",
        "Creates the target's instances in the restored cluster: the source's, or as targets[] overrides them.",
        "CreateInstancesFunctionArn",
        params(
            engine="$.copy.snapshot.engine",
            clusterIdentifier="$.cluster.clusterIdentifier",
            configuration="$.configuration",
            parameterGroups="$.parameterGroups.instanceParameterGroups",
        ),
        "$.instances",
    )
    _await(
        flow,
        "Instances",
        "target instances",
        params(kind="instances", access=access, identifiers="$.instances.instanceIdentifiers"),
        "RDS-EVENT-0005 (DB instance created) of each instance",
    )
    _apply_pending_parameters(flow, in_target, access)
    flow.mark("instancesReady")
    flow.choice(
        "IsReplacing",
        "A refresh in place (onExisting 'replace') swaps the new cluster into the old one's name.",
        [{"Variable": "$.cluster.replaces", "IsPresent": True, "Next": "StartSwapWait"}],
        default="TargetDone",
    )
    flow.poll_loop(
        "Swap",
        "swap",
        "Renames the replaced cluster aside and the new one into its name, then deletes the old one.",
        "SwapTargetFunctionArn",
        target,
    )
    marks = {
        **params(
            regionCopyReady="$.marks.regionCopyReady",
            targetCopyReady="$.marks.targetCopyReady",
            instancesReady="$.marks.instancesReady",
        ),
        "clusterReady": params(at="$.marks.clusterReady.at"),
    }
    # The Map collects one of these per target into the run's state: only what the summary reads, so that the
    # state stays within Step Functions' 256 KiB for 20 targets (README "Input contract").
    flow.add(
        {
            "TargetReplaced": _target_result(
                "$.poll",
                "$.poll",
                marks={**marks, "swapped": params(at="$$.State.EnteredTime")},
                comment="The replaced target as the summary reads it: the cluster under the old name.",
                replaced="$.poll.replaced",
                regionCopy="$.region.summary",
                credentials="$.credentials",
                parametersNotCopied="$.parameterGroups.reported",
            )
        }
    )
    flow.add(
        {
            "TargetDone": _target_result(
                "$",
                "$.marks.clusterReady",
                marks=marks,
                regionCopy="$.region.summary",
                credentials="$.credentials",
                parametersNotCopied="$.parameterGroups.reported",
            )
        }
    )
    flow.iteration_failure(
        "RecordTargetFailure",
        "TargetFailed",
        account="$.accountId",
        parked=("RecordTargetPause", "TargetParked"),
    )
    return flow


def definition() -> State:
    # Until the source snapshot is prepared the run has made nothing, so a failure only needs describing.
    flow = Flow(failure="DescribeFailure")
    flow.start(
        "ValidateInput", "Checks the whole input contract before any AWS call.", "ValidateInputFunctionArn"
    )
    flow.task(
        "Preflight",
        "Read-only checks of roles, keys, key policies, quotas and names; fails before anything is created.",
        "PreflightFunctionArn",
        run(),
        # Above the function's own timeout (120 s), so that a hung preflight ends as Lambda's Sandbox.Timedout.
        timeout=150,
        result="$.preflight",
        # Only the findings the summary reports (not info): the info findings and the plan (a few kilobytes per
        # target) are for `ferry plan`, and a failed preflight raises rather than returning ok=false.
        selector=params(findings="$.warnings"),
    )
    flow.failure = "CleanupAfterFailure"
    # From here a transient error parks the run for a redrive (README "Redrive").
    flow.park = "ParkRun"
    flow.task(
        "PrepareSourceSnapshot",
        "Snapshots the source cluster, or copies an automated snapshot to a manual one.",
        "PrepareSourceFunctionArn",
        run(),
        timeout=300,
        result="$.source",
        queued=True,
    )
    # RDS-EVENT-0075 announces a snapshot the run took; a copied automated snapshot has no event.
    _await(
        flow,
        "SourceSnapshot",
        "source snapshot",
        _snapshot("$.sourceAccess", "$.source.identifier"),
        "RDS-EVENT-0075 (manual DB cluster snapshot created)",
        when={"Variable": "$.source.origin", "StringEquals": "created"},
    )
    flow.mark("sourceSnapshotReady")
    flow.task(
        "PrepareShareCopy",
        "Copies the snapshot re-encrypted with the share key, unless it already is the run's own such copy.",
        "PrepareShareCopyFunctionArn",
        run(snapshot="$.source"),
        timeout=300,
        result="$.share",
        queued=True,
    )
    _await(flow, "ShareCopy", "share copy", _snapshot("$.sourceAccess", "$.share.identifier"))
    flow.mark("shareCopyReady")
    share = params(input="$.input", snapshot="$.share")
    flow.task(
        "ShareSnapshot",
        "Adds the target accounts to the snapshot's restore attribute (never 'all').",
        "ShareSnapshotFunctionArn",
        share,
        timeout=300,
        result="$.shared",
    )
    flow.mark("shared")
    flow.map(
        "MigrateTargets",
        "Each target account copies, restores and adds instances in parallel.",
        target_steps(),
        items="$.input.targets",
        concurrency=10,
        selector={
            **run(
                accountId="$$.Map.Item.Value.accountId",
                shared="$.share",
                configuration="$.source.configuration",
            ),
            "marks": {},
        },
        result="$.targets",
    )
    flow.mark("targetsReady")
    flow.cleanup(
        "Cleanup",
        "Unshares and deletes this run's intermediate snapshots per options.cleanup.",
        "CleanupFunctionArn",
        # Only a run that succeeded retires older target copies (options.keepTargetCopies). The retry count lets
        # the cleanup tell its first look from the retries (cleanup_steps._require_restores_done).
        run(succeeded=True, attempt=ATTEMPT),
        in_use=True,
    )
    flow.mark("cleanedUp")
    flow.summarize("Summarize", "Builds the run summary: ARNs, endpoints, timings.", "SummarizeFunctionArn")
    flow.failure_path(
        "CleanupAfterFailure",
        "Unshares and removes what this run made before failing; never touches the source.",
        "CleanupFunctionArn",
        run(attempt=ATTEMPT),
        describe="DescribeFailure",
        summarize="SummarizeFunctionArn",
        fail="MigrationFailed",
        in_use=True,
    )
    add_park_path(
        flow,
        "CleanupFunctionArn",
        run(attempt=ATTEMPT),
        summarize="SummarizeFunctionArn",
        reshare=("ShareSnapshotFunctionArn", share),
        shared_mark="$.marks.shared",
        in_use=True,
    )
    return machine(COMMENT, flow, timeout=SEVEN_DAYS)
