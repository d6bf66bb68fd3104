"""The migration workflow, generated into statemachine/migrate.asl.json (README "How it works")."""

from __future__ import annotations

from ferry_cli.asl.builder import Flow, State, machine, params, run

COMMENT = "aurora-ferry: copy an Aurora cluster to 1-20 other accounts via a shared, re-encrypted snapshot."
# Bounds the whole run, whatever any single wait allows.
SEVEN_DAYS = 604800
POLL = "PollStatusFunctionArn"
REGISTER = "RegisterWaitFunctionArn"


def target_steps() -> Flow:
    """One Map iteration: copy, restore and add instances in one target account.

    Its tasks do not catch: a failed target fails the whole Map, whose Catch cleans up every target.
    """
    flow = Flow(failure="TargetFailed", catch=False)
    target = run(accountId="$.accountId")
    flow.task(
        "CopyToTarget",
        "Copies the shared snapshot by ARN, re-encrypted with the target key.",
        "CopyToTargetFunctionArn",
        {**target, "shared.$": "$.shared"},
        timeout=300,
        result="$.copy",
        queued=True,
    )
    flow.event_wait(
        "TargetCopy",
        "target snapshot copy",
        params(kind="snapshot", access="$.copy.access", identifier="$.copy.snapshot.identifier"),
        poll=POLL,
        register=REGISTER,
    )
    flow.mark("targetCopyReady")
    flow.task(
        "RestoreCluster",
        "Restores the target cluster (no instances yet) with the target key.",
        "RestoreClusterFunctionArn",
        {**target, "copy.$": "$.copy.snapshot"},
        timeout=300,
        result="$.cluster",
    )
    flow.event_wait(
        "Cluster",
        "target cluster",
        params(kind="cluster", access="$.copy.access", identifier="$.cluster.clusterIdentifier"),
        poll=POLL,
        register=REGISTER,
        event="RDS-EVENT-0170 (DB cluster created)",
    )
    flow.mark(
        "clusterReady",
        "Keeps the endpoints and records the time.",
        endpoint="$.poll.endpoint",
        readerEndpoint="$.poll.readerEndpoint",
    )
    flow.task(
        "CreateInstances",
        "Creates the requested instances in the restored cluster.",
        "CreateInstancesFunctionArn",
        {**target, "engine.$": "$.copy.snapshot.engine"},
        timeout=300,
        result="$.instances",
    )
    flow.event_wait(
        "Instances",
        "target instances",
        params(kind="instances", access="$.copy.access", identifiers="$.instances.instanceIdentifiers"),
        poll=POLL,
        register=REGISTER,
        event="RDS-EVENT-0005 (DB instance created) of each instance",
    )
    flow.mark("instancesReady")
    flow.add(
        {
            "TargetDone": {
                "Type": "Pass",
                "Parameters": params(
                    accountId="$.accountId",
                    copy="$.copy.snapshot",
                    cluster="$.cluster",
                    endpoint="$.marks.clusterReady.endpoint",
                    instances="$.instances",
                    marks="$.marks",
                    readerEndpoint="$.marks.clusterReady.readerEndpoint",
                ),
                "End": True,
            }
        }
    )
    flow.fail("TargetFailed", "$.failure.Error", "$.failure.Cause")
    return flow


def definition() -> State:
    # Until the source snapshot is prepared the run has made nothing, so a failure only needs describing.
    flow = Flow(failure="DescribeFailure")
    flow.task(
        "ValidateInput",
        "Checks the whole input contract before any AWS call.",
        "ValidateInputFunctionArn",
        params(input="$", executionName="$$.Execution.Name"),
        timeout=30,
        result="$",
    )
    flow.mark("started")
    flow.task(
        "Preflight",
        "Read-only checks of roles, keys, key policies, quotas and names; fails before anything is created.",
        "PreflightFunctionArn",
        run(),
        timeout=120,
        result="$.preflight",
    )
    flow.failure = "CleanupAfterFailure"
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
    flow.event_wait(
        "SourceSnapshot",
        "source snapshot",
        params(kind="snapshot", access="$.sourceAccess", identifier="$.source.identifier"),
        poll=POLL,
        register=REGISTER,
        event="RDS-EVENT-0075 (manual DB cluster snapshot created)",
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
    flow.event_wait(
        "ShareCopy",
        "share copy",
        params(kind="snapshot", access="$.sourceAccess", identifier="$.share.identifier"),
        poll=POLL,
        register=REGISTER,
    )
    flow.mark("shareCopyReady")
    flow.task(
        "ShareSnapshot",
        "Adds the target accounts to the snapshot's restore attribute (never 'all').",
        "ShareSnapshotFunctionArn",
        params(input="$.input", snapshot="$.share"),
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
        selector={**run(accountId="$$.Map.Item.Value.accountId", shared="$.share"), "marks": {}},
        result="$.targets",
    )
    flow.mark("targetsReady")
    flow.task(
        "Cleanup",
        "Unshares and deletes this run's intermediate snapshots per options.cleanup.",
        "CleanupFunctionArn",
        run(),
        timeout=300,
        result="$.cleanup",
        best_effort=True,
    )
    flow.mark("cleanedUp")
    flow.summarize("Summarize", "Builds the run summary: ARNs, endpoints, timings.", "SummarizeFunctionArn")
    flow.failure_path(
        "CleanupAfterFailure",
        "Unshares and removes what this run made before failing; never touches the source.",
        "CleanupFunctionArn",
        run(),
        describe="DescribeFailure",
        summarize="SummarizeFunctionArn",
        fail="MigrationFailed",
    )
    return machine(COMMENT, flow, timeout=SEVEN_DAYS)
