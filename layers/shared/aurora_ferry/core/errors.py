"""Named domain errors.

Step Functions sees a raised exception's class name as the task's error name, so each class here is
listed by name in the ASL's Retry/Catch blocks. Keep names stable: renaming one is an ASL change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from aurora_ferry.core.accounts import AccountAccess


class FerryError(Exception):
    """Base class: every error the workflow can end on, with the account and region it happened in.

    `category` says whose fault it is, so an operator knows where to look: "input" (the execution input or
    what it names), "aws" (what AWS answered: permissions, keys, quotas, state), "payload" (a step was
    handed state it cannot read: a bug in the workflow, not the user's), "configuration" (the deployment
    is missing something the code needs).
    """

    category = "aws"

    def __init__(self, message: str, *, account_id: str | None = None, region: str | None = None) -> None:
        self.account_id = account_id
        self.region = region
        where = ""
        if account_id:
            where = f"[account {account_id}{' ' + region if region else ''}] "
        super().__init__(f"{where}{message}")

    @classmethod
    def in_account(cls, access: AccountAccess, message: str) -> Self:
        """The error as it happened in the account and Region ``access`` reaches."""
        return cls(message, account_id=access.account_id, region=access.region)


class InvalidInputError(FerryError):
    """The execution input breaks the contract; raised before any AWS call."""

    category = "input"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid input: " + "; ".join(problems))


class PayloadError(FerryError):
    """A step was handed a state-machine payload it cannot read (a field missing or of the wrong shape).

    The user's input was already validated, so this is a fault of the workflow (its ASL or a step's output),
    never reported as the user's error."""

    category = "payload"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("state machine payload: " + "; ".join(problems))


class ConfigurationError(FerryError):
    """The deployment lacks something the code needs (an environment variable, a resource name)."""

    category = "configuration"


class AssumeRoleError(FerryError):
    """The orchestrator could not assume a member-account role."""


class SourceNotFoundError(FerryError):
    """The source cluster or snapshot does not exist or is not visible to the source role."""


class SourceNotReadyError(FerryError):
    """The source cluster or snapshot is in a state that cannot be snapshotted or copied."""


class SnapshotNotShareableError(FerryError):
    """AWS would refuse to share this snapshot (default key, automated, public request)."""


class SharedSnapshotNotVisibleError(FerryError):
    """A target account cannot see the shared snapshot (share missing or revoked)."""


class KmsKeyNotUsableError(FerryError):
    """A KMS key exists but the calling account may not use it (key policy, region, state)."""


class TargetConflictError(FerryError):
    """The target cluster identifier is already taken in the target account."""


class MasterCredentialsError(FerryError):
    """The target cluster cannot get master credentials of its own under the target's key: it already has an
    RDS-managed secret under another key, which AWS cannot change ("If the DB cluster already manages the master
    user password in AWS Secrets Manager, you can't change the KMS key that is used to encrypt the secret").
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBCluster.html"""


class ResourceFailedError(FerryError):
    """A resource the run waits on entered a terminal failure status."""


class SnapshotQuotaError(FerryError):
    """The account has no room for another manual snapshot or copy."""


class PreflightFailedError(FerryError):
    """The read-only preflight found problems that would make the run fail; nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"preflight found {len(problems)} problem(s): " + "; ".join(problems))


class AwsThrottledError(FerryError):
    """AWS throttled the call; transient, retried with backoff by the state machine."""


class CopyQueueFullError(FerryError):
    """The account already has the most cluster snapshot copies in progress that Aurora allows in one
    destination Region (five); the state machine retries the copy later instead of failing the run.
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-copy-snapshot.html"""


class SharedSnapshotInUseError(FerryError):
    """A target cluster of this run is still being restored straight from the shared snapshot, so the cleanup
    may not unshare or delete it yet; the state machine retries the cleanup later (README "Direct restore")."""


class CloneNotAllowedError(FerryError):
    """AWS would refuse this Aurora clone (no instance, not available, clone limits, default key, a
    cluster shared with the account, a second cross-account clone); raised before anything is changed."""


class CloneVerificationError(FerryError):
    """The clone exists but is not what was asked (e.g. CrossAccountClone is not true for a cross-account
    clone)."""


class RunParkedError(FerryError):
    """A run stopped by a transient cause (throttling, a Lambda fault or timeout, a wait that ran out) after it
    unshared everything and kept its intermediates: `RedriveExecution` resumes it from the step that failed.
    Raised only by the migration's ParkedUntilRedrive state, which catches nothing, so that the execution fails at
    that state and a redrive runs it again (README "Redrive")."""


class LeftoverCleanupError(FerryError):
    """The scheduled retry of leftover snapshots could not reach or delete some of them (never raised to a
    state machine: it marks the scheduled invocation as failed, so the function's Errors metric shows it)."""


# Names the ASL must list; a test checks the ASL against this tuple so the two cannot drift.
DOMAIN_ERRORS: tuple[type[FerryError], ...] = (
    InvalidInputError,
    AssumeRoleError,
    SourceNotFoundError,
    SourceNotReadyError,
    SnapshotNotShareableError,
    SharedSnapshotNotVisibleError,
    KmsKeyNotUsableError,
    TargetConflictError,
    ResourceFailedError,
    SnapshotQuotaError,
    PreflightFailedError,
    MasterCredentialsError,
)
TRANSIENT_ERRORS: tuple[type[FerryError], ...] = (AwsThrottledError,)
# Raised by the migration's copy steps while the account's copy queue is full: the migration ASL retries them
# by name with a long interval (a test checks it). Not a domain error: it never ends a run by itself.
QUEUED_ERRORS: tuple[type[FerryError], ...] = (CopyQueueFullError,)
# Raised by the migration's cleanup while a target restores straight from the shared snapshot: the cleanup tasks
# retry them by name (a test checks it). Not a domain error, and never parks a run.
IN_USE_ERRORS: tuple[type[FerryError], ...] = (SharedSnapshotInUseError,)
# Raised only by the clone workflow: statemachine/clone.asl.json catches them by name (and DOMAIN_ERRORS);
# a test checks it. Kept apart so the migration's ASL need not list errors it can never see.
CLONE_ERRORS: tuple[type[FerryError], ...] = (CloneNotAllowedError, CloneVerificationError)
