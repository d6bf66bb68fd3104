"""The clone workflow, generated into statemachine/clone.asl.json (README "Clones")."""

from __future__ import annotations

from aurora_ferry.core import CLONE_ERRORS, DOMAIN_ERRORS
from ferry_cli.asl.builder import Flow, State, machine, params, run

COMMENT = (
    "aurora-ferry: Aurora copy-on-write clone, in the source account or another one through AWS RAM; optionally "
    "replaces a dev cluster (refresh)."
)
SEVEN_DAYS = 604800
POLL = "PollCloneFunctionArn"
RETIRE = "RetireDevClusterFunctionArn"


def definition() -> State:
    # An invalid input only needs describing; from the inspection on, failures go through cleanup.
    flow = Flow(failure="DescribeCloneFailure", errors=DOMAIN_ERRORS + CLONE_ERRORS)
    flow.task(
        "ValidateCloneInput",
        "Checks the whole clone input contract before any AWS call.",
        "ValidateCloneInputFunctionArn",
        params(input="$", executionName="$$.Execution.Name"),
        timeout=30,
        result="$",
    )
    flow.mark("started")
    flow.failure = "CleanupCloneAfterFailure"
    flow.task(
        "InspectCloneSource",
        "Read-only: refuses, before any change, every clone AWS would refuse; finds what a refresh replaces.",
        "InspectCloneSourceFunctionArn",
        run(),
        timeout=120,
        result="$.checked",
    )
    flow.choice(
        "IsCrossAccount",
        "A clone in another account needs the cluster shared through AWS RAM first.",
        [{"Variable": "$.plan.crossAccount", "BooleanEquals": True, "Next": "ShareSourceCluster"}],
        default="CreateClone",
    )
    flow.task(
        "ShareSourceCluster",
        "The owner shares the cluster with the target account only (AWS RAM resource share, tagged).",
        "ShareClusterFunctionArn",
        run(source="$.checked.source"),
        timeout=120,
        result="$.share",
    )
    flow.poll_loop(
        "Share",
        "resource share",
        "The target accepts a pending invitation; ready once the share is associated.",
        "AcceptShareFunctionArn",
        run(share="$.share"),
    )
    flow.mark(
        "shared",
        "Records when the share was associated, and the invitation accepted (if any).",
        invitationArn="$.poll.invitationArn",
    )
    flow.task(
        "CreateClone",
        "RestoreDBClusterToPointInTime, copy-on-write, in the target account (no instances yet).",
        "CreateCloneFunctionArn",
        run(source="$.checked.source"),
        timeout=300,
        result="$.clone",
    )
    flow.poll_loop(
        "Clone",
        "clone cluster",
        "Describes the clone once.",
        POLL,
        params(kind="cluster", access="$.targetAccess", identifier="$.clone.clusterIdentifier"),
    )
    flow.mark(
        "cloneReady",
        "Keeps the endpoints and records the time.",
        endpoint="$.poll.endpoint",
        readerEndpoint="$.poll.readerEndpoint",
    )
    flow.task(
        "CreateCloneInstances",
        "Creates the requested instances in the clone.",
        "CreateCloneInstancesFunctionArn",
        run(source="$.checked.source"),
        timeout=300,
        result="$.instances",
    )
    flow.poll_loop(
        "CloneInstances",
        "clone instances",
        "Describes the clone's instances once.",
        POLL,
        params(kind="instances", access="$.targetAccess", identifiers="$.instances.instanceIdentifiers"),
    )
    flow.mark("instancesReady")
    flow.task(
        "VerifyClone",
        "Checks the clone is what was asked: CrossAccountClone, and the target's key.",
        "VerifyCloneFunctionArn",
        run(),
        timeout=60,
        result="$.verified",
    )
    flow.choice(
        "IsRefresh",
        "A refresh retires the old dev cluster now that the new clone is ready.",
        [{"Variable": "$.checked.retiring", "BooleanEquals": True, "Next": "RetireOldInstances"}],
        default="CleanupClone",
    )
    # Instances first: Aurora deletes a cluster only once it has no instances.
    # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_DeleteCluster.html
    flow.task(
        "RetireOldInstances",
        "Deletes the instances of the dev cluster(s) the refresh replaces (tagged managed only).",
        RETIRE,
        {"action": "delete-instances", **run(clusters="$.checked.replaces")},
        timeout=300,
        result="$.retire",
    )
    flow.poll_loop(
        "RetiredInstances",
        "old dev cluster instances",
        "Checks whether the old instances are gone.",
        POLL,
        params(kind="instances-gone", access="$.targetAccess", identifiers="$.retire.instanceIdentifiers"),
    )
    flow.task(
        "RetireOldClusters",
        "Deletes the replaced dev cluster(s) without a final snapshot (tagged managed only).",
        RETIRE,
        {"action": "delete-clusters", **run(clusters="$.checked.replaces")},
        timeout=300,
        result="$.retired",
    )
    flow.poll_loop(
        "RetiredClusters",
        "old dev cluster",
        "Checks whether the old clusters are gone.",
        POLL,
        params(kind="clusters-gone", access="$.targetAccess", identifiers="$.retired.clusterIdentifiers"),
    )
    flow.mark("retired")
    flow.task(
        "CleanupClone",
        "Deletes this run's RAM share (the clone no longer needs it).",
        "CleanupCloneFunctionArn",
        run(failed=False),
        timeout=300,
        result="$.cleanup",
        best_effort=True,
    )
    flow.mark("cleanedUp")
    flow.summarize(
        "SummarizeClone",
        "Builds the run summary: the clone, endpoints, what a refresh retired, timings.",
        "SummarizeCloneFunctionArn",
    )
    flow.failure_path(
        "CleanupCloneAfterFailure",
        "Deletes this run's RAM share; reports a clone it made (never "
        "deleted); never touches the source or the old dev cluster.",
        "CleanupCloneFunctionArn",
        run(failed=True),
        describe="DescribeCloneFailure",
        summarize="SummarizeCloneFunctionArn",
        fail="CloneFailed",
    )
    return machine(COMMENT, flow, timeout=SEVEN_DAYS)
