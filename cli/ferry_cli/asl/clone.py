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


def _poll(flow: Flow, key: str, noun: str, comment: str, kind: str, **identifiers: str) -> None:
    """The waits for clusters and instances, new or retired, all poll one function in the target account."""
    flow.poll_loop(key, noun, comment, POLL, params(kind=kind, access="$.targetAccess", **identifiers))


def _wait_if(
    flow: Flow,
    choice: tuple[str, str, str],
    wait: tuple[str, str, str, str],
    *,
    otherwise: str,
    **identifiers: str,
) -> None:
    """After a step that may have started a change: the `choice` (name, comment, the step's flag) polls the `wait`
    (key, noun, comment, kind) for the resource `identifiers` name only when the step set its flag, else goes to
    `otherwise`."""
    name, comment, flag = choice
    key = wait[0]
    flow.if_true(name, comment, flag, then=f"Start{key}Wait", otherwise=otherwise)
    _poll(flow, *wait, **identifiers)


def _wait_if_modified(
    flow: Flow, choice: tuple[str, str, str], wait: tuple[str, str], *, otherwise: str
) -> None:
    """After a step that may have modified the clone: wait until it is available again only when it was
    (`_wait_if` on the clone; `wait` is the wait's key and noun)."""
    key, noun = wait
    on_clone = (key, noun, "Describes the clone once.", "cluster")
    _wait_if(flow, choice, on_clone, otherwise=otherwise, identifier="$.clone.clusterIdentifier")


def _create(
    flow: Flow,
    step: tuple[str, str, str],
    parameter_groups: str,
    wait: tuple[str, str, str, str],
    **identifiers: str,
) -> None:
    """The `step` (name, comment, result) that creates the clone or its instances in the target account: its
    function `<name>FunctionArn` is given the source and the `parameter_groups` to use; then the `wait` (key,
    noun, comment, kind) until what `identifiers` name is available."""
    name, comment, result = step
    flow.task(
        name,
        comment,
        f"{name}FunctionArn",
        run(source="$.checked.source", parameterGroups=parameter_groups),
        timeout=300,
        result=result,
    )
    _poll(flow, *wait, **identifiers)


def _retire(flow: Flow, what: str, comment: str, result: str, noun: str) -> None:
    """Deletes the `what` ("instances" or "clusters") of the dev cluster(s) a refresh replaces, then polls until
    they are gone."""
    flow.task(
        f"RetireOld{what.title()}",
        comment,
        RETIRE,
        {"action": f"delete-{what}", **run(clusters="$.checked.replaces")},
        timeout=300,
        result=result,
    )
    gone = f"Checks whether the old {what} are gone."
    identifiers = f"{result}.{what.removesuffix('s')}Identifiers"
    _poll(flow, f"Retired{what.title()}", noun, gone, f"{what}-gone", identifiers=identifiers)


def _keep_name(flow: Flow) -> None:
    """refresh.keepName: the clone takes the old dev cluster's name (renamed aside first) before the refresh
    retires it; then the clone, its endpoints and the retire list are as the swap left them (a first refresh
    has nothing to retire: the retire steps find an empty list)."""
    flow.poll_loop(
        "KeepName",
        "swap of the dev cluster's name",
        "Renames the old dev cluster aside and the new clone into its name.",
        "KeepCloneNameFunctionArn",
        {"action": "keep-name", **run(clusters="$.checked.replaces")},
    )
    renamed: dict[str, State] = {
        "KeepRenamedClone": {"InputPath": "$.poll.cluster", "ResultPath": "$.clone"},
        "KeepRenamedEndpoints": {
            "Parameters": params(
                at="$.marks.cloneReady.at", endpoint="$.poll.endpoint", readerEndpoint="$.poll.readerEndpoint"
            ),
            "ResultPath": "$.marks.cloneReady",
        },
        "KeepRenamedInstances": {
            "InputPath": "$.poll.instanceArns",
            "ResultPath": "$.instances.instanceArns",
        },
        "KeepRetireList": {"InputPath": "$.poll.replaces", "ResultPath": "$.checked.replaces"},
    }
    names = list(renamed)
    flow.add(
        {
            name: {"Type": "Pass", **state, "Next": names[index + 1] if index + 1 < len(names) else None}
            for index, (name, state) in enumerate(renamed.items())
        }
    )


def _configure(flow: Flow) -> None:
    """The carried settings only ModifyDBCluster takes (the maintenance window, README "Carried settings"), applied
    to the available clone; a modified clone is waited for before anything else changes it."""
    flow.task(
        "ConfigureClone",
        "Applies the source's settings that only ModifyDBCluster takes (or target.settings' overrides).",
        "ConfigureCloneFunctionArn",
        run(source="$.checked.source"),
        timeout=300,
        result="$.configured",
    )
    _wait_if_modified(
        flow,
        ("IsCloneConfigured", "Only a modified clone is waited for.", "$.configured.modified"),
        ("CloneConfigured", "clone being configured"),
        otherwise="OwnCloneCredentials",
    )


def _own_credentials(flow: Flow) -> None:
    """target.masterCredentials 'own' (README "Master credentials"): RDS manages the clone's master password in
    the target's Secrets Manager; the clone is being modified meanwhile, so its instances wait until it is
    available again."""
    flow.task(
        "OwnCloneCredentials",
        "Turns on RDS management of the clone's master password in the target's Secrets Manager (under "
        "target.kmsKeyArn); with target.masterCredentials 'source' does nothing.",
        "OwnCloneCredentialsFunctionArn",
        run(),
        timeout=300,
        result="$.credentials",
    )
    _wait_if_modified(
        flow,
        (
            "IsModifyingCloneCredentials",
            "Only a clone being modified is waited for.",
            "$.credentials.modifying",
        ),
        ("CloneCredentials", "clone being modified"),
        otherwise="CreateCloneInstances",
    )


def _apply_pending_parameters(flow: Flow) -> None:
    """An instance whose parameter group waits for a reboot (README "Parameter groups") is rebooted, and the
    rebooted ones are waited for; in the usual run there is none."""
    flow.task(
        "ApplyClonePendingParameters",
        "Reboots the clone's instances whose parameter group waits for a reboot (static parameters); usually none.",
        "ApplyClonePendingParametersFunctionArn",
        run(),
        timeout=300,
        result="$.rebooted",
    )
    _wait_if(
        flow,
        ("IsCloneRebooting", "Only rebooting instances are waited for.", "$.rebooted.rebooting"),
        ("CloneRebooted", "rebooted clone instances", "Describes the rebooted instances once.", "instances"),
        otherwise="MarkInstancesReady",
        identifiers="$.rebooted.instanceIdentifiers",
    )


def definition() -> State:
    # An invalid input only needs describing; from the inspection on, failures go through cleanup.
    flow = Flow(failure="DescribeCloneFailure", errors=DOMAIN_ERRORS + CLONE_ERRORS)
    flow.start(
        "ValidateCloneInput",
        "Checks the whole clone input contract before any AWS call.",
        "ValidateCloneInputFunctionArn",
    )
    flow.failure = "CleanupCloneAfterFailure"
    flow.task(
        "InspectCloneSource",
        "Read-only: refuses, before any change, every clone AWS would refuse; finds what a refresh replaces.",
        "InspectCloneSourceFunctionArn",
        run(),
        timeout=120,
        result="$.checked",
    )
    flow.if_true(
        "IsCrossAccount",
        "A clone in another account needs the cluster shared through AWS RAM first.",
        "$.plan.crossAccount",
        then="ShareSourceCluster",
        otherwise="ReplicateCloneParameterGroups",
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
        "ReplicateCloneParameterGroups",
        "Recreates the source's custom cluster and instance parameter groups in the target account (read with the "
        "source's role), or finds identical ones there; the source's own account uses them as they are.",
        "ReplicateCloneParameterGroupsFunctionArn",
        run(source="$.checked.source"),
        timeout=300,
        result="$.parameterGroups",
    )
    _create(
        flow,
        (
            "CreateClone",
            "RestoreDBClusterToPointInTime, copy-on-write, in the target account (no instances yet).",
            "$.clone",
        ),
        "$.parameterGroups",
        ("Clone", "clone cluster", "Describes the clone once.", "cluster"),
        identifier="$.clone.clusterIdentifier",
    )
    flow.mark_endpoints("cloneReady")
    _configure(flow)
    _own_credentials(flow)
    _create(
        flow,
        ("CreateCloneInstances", "Creates the requested instances in the clone.", "$.instances"),
        "$.parameterGroups.instanceParameterGroups",
        ("CloneInstances", "clone instances", "Describes the clone's instances once.", "instances"),
        identifiers="$.instances.instanceIdentifiers",
    )
    _apply_pending_parameters(flow)
    flow.mark("instancesReady")
    flow.task(
        "VerifyClone",
        "Checks the clone is what was asked: CrossAccountClone, and the target's key.",
        "VerifyCloneFunctionArn",
        run(),
        timeout=60,
        result="$.verified",
    )
    keeps_name = {
        "And": [
            {"Variable": "$.input.refresh.keepName", "IsPresent": True},
            {"Variable": "$.input.refresh.keepName", "BooleanEquals": True},
        ],
        "Next": "StartKeepNameWait",
    }
    flow.choice(
        "IsRefresh",
        "A refresh (with keepName, first giving the clone the old name) retires the old dev cluster now that the "
        "new clone is ready.",
        [keeps_name, {"Variable": "$.checked.retiring", "BooleanEquals": True, "Next": "RetireOldInstances"}],
        default="CleanupClone",
    )
    _keep_name(flow)
    # Instances first: Aurora deletes a cluster only once it has no instances.
    # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_DeleteCluster.html
    _retire(
        flow,
        "instances",
        "Deletes the instances of the dev cluster(s) the refresh replaces (tagged managed only).",
        "$.retire",
        "old dev cluster instances",
    )
    _retire(
        flow,
        "clusters",
        "Deletes the replaced dev cluster(s) without a final snapshot (tagged managed only).",
        "$.retired",
        "old dev cluster",
    )
    flow.mark("retired")
    flow.cleanup(
        "CleanupClone",
        "Deletes this run's RAM share (the clone no longer needs it).",
        "CleanupCloneFunctionArn",
        run(failed=False),
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
