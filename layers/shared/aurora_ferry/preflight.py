"""Read-only preflight: find KMS, sharing and quota mistakes before a migration changes anything.

A run that fails on a key policy does so an hour in, after snapshots and copies were made; the checks
here take seconds and name the fix. They reach each member account through the same role the run will
assume and make only Describe/Get/List/Simulate calls (plus sts:AssumeRole), so they run unchanged
against real AWS and the local twin. What a role may not read becomes a warning naming the permission,
never a silent pass.

``run_preflight`` returns a report: findings (error / warning / info, each saying what is wrong and how
to fix it) and the plan, every step of the run in order with its account, key, what it creates and what
cleanup does with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from aurora_ferry import aws, naming, permissions
from aurora_ferry.aws import AccountAccess, error_code, error_message
from aurora_ferry.contract import MAX_TARGETS, CleanupPolicy, MigrationRequest, Target
from aurora_ferry.errors import AssumeRoleError, PreflightFailedError
from aurora_ferry.kms_policy import (
    CROSS_ACCOUNT_COPY_ACTIONS,
    SOURCE_KEY_COPY_ACTIONS,
    KeyPolicyVerdict,
    evaluate_key_policy,
    rds_via_service,
    without_account_delegation,
)
from aurora_ferry.migration import source_access, target_access
from aurora_ferry.snapshots import Encryption

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_kms.type_defs import KeyMetadataTypeDef
    from mypy_boto3_rds import RDSClient

__all__ = [
    "DEFAULT_MANUAL_CLUSTER_SNAPSHOT_QUOTA",
    "Finding",
    "PlanStep",
    "PreflightReport",
    "run_preflight",
]

Severity = Literal["error", "warning", "info"]
SourceKind = Literal["cluster", "manual-snapshot", "automated-snapshot"]

RUN_ID_PLACEHOLDER = "<run-id>"
ORCHESTRATOR = "orchestrator"
KEY_POLICY_NAME = "default"  # the only policy name KMS supports

# DescribeAccountAttributes names the quota "ManualClusterSnapshots"; its documented default is 100 per
# Region ("Manual DB cluster snapshots"), used when the answer lacks it or the call is not allowed:
# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_AccountQuota.html
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/CHAP_Limits.html
MANUAL_CLUSTER_SNAPSHOTS_QUOTA = "ManualClusterSnapshots"
DEFAULT_MANUAL_CLUSTER_SNAPSHOT_QUOTA = 100

# The grant operations carry kms:GrantIsForAWSResource; the simulation is given that context only for them.
_GRANT_ACTIONS = ("kms:CreateGrant",)
# Statement the fix suggests for a target account: the actions the copy needs, only through RDS.
_SUGGESTED_TARGET_ACTIONS = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
)

# Same retry behaviour as the run's clients: short throttling bursts are absorbed here.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="aurora-ferry")


@dataclass(frozen=True)
class Finding:
    """One result of one check; ``message`` says what is wrong and how to fix it."""

    severity: Severity
    check: str
    account_id: str
    resource: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {
            "severity": self.severity,
            "check": self.check,
            "accountId": self.account_id,
            "resource": self.resource,
            "message": self.message,
        }

    def __str__(self) -> str:
        return f"[account {self.account_id}] {self.check}: {self.message}"


@dataclass(frozen=True)
class PlanStep:
    """One step of the run as it would happen: where, with which key, what it makes, what becomes of it."""

    step: str
    account_id: str
    action: str
    kms_key: str | None = None
    creates: str | None = None
    cleanup: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "step": self.step,
            "accountId": self.account_id,
            "action": self.action,
            "kmsKey": self.kms_key,
            "creates": self.creates,
            "cleanup": self.cleanup,
        }


@dataclass
class PreflightReport:
    run_id: str
    findings: list[Finding] = field(default_factory=list)
    plan: list[PlanStep] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise PreflightFailedError listing every error finding (nothing when ok)."""
        if not self.ok:
            raise PreflightFailedError([str(finding) for finding in self.errors])

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "runId": self.run_id,
            "counts": {
                severity: sum(1 for f in self.findings if f.severity == severity)
                for severity in ("error", "warning", "info")
            },
            "findings": [finding.to_json() for finding in self.findings],
            "plan": [step.to_json() for step in self.plan],
        }


def run_preflight(request: MigrationRequest, run_id: str | None = None) -> PreflightReport:
    """Check the request against the member accounts, read-only, and describe what the run would do."""
    return _Preflight(request, run_id or RUN_ID_PLACEHOLDER).run()


@dataclass(frozen=True)
class _Source:
    """What the preflight learnt about the source; decides which snapshots the run makes."""

    kind: SourceKind
    identifier: str
    encrypted: bool
    kms_key_id: str | None
    encryption: Encryption
    customer_key_arn: str | None  # set only when DescribeKey showed a customer-managed key
    engine: str


@dataclass(frozen=True)
class _KeyUse:
    """A role RDS uses a key for, and the fix for each half; a fix's ``{sids}`` becomes the Sids (from
    ``sids``, ``"*"`` for the rest) of the member-accounts/ statements that grant the missing actions."""

    check: str
    role_arn: str
    key_arn: str
    actions: tuple[str, ...]
    consequence: str
    sids: Mapping[str, str]
    identity_fix: str
    key_policy_fix: str


class _Preflight:
    def __init__(self, request: MigrationRequest, run_id: str) -> None:
        self.request = request
        self.run_id = run_id
        self.region = request.source.region
        self.partition = request.share_kms_key_arn.split(":")[1]
        self.findings: list[Finding] = []
        self._found_source: _Source | None = None

    # --- driver ---------------------------------------------------------------------------------------

    def run(self) -> PreflightReport:
        request = self.request
        source_account = request.source.account_id
        if len(request.targets) > MAX_TARGETS:
            # The contract refuses this already; repeated because sharing would fail half-way.
            self._add(
                "error",
                "targets-count",
                source_account,
                "targets",
                f"{len(request.targets)} targets: a snapshot can be shared with at most {MAX_TARGETS} "
                "accounts. Split the targets over several runs.",
            )
        access = source_access(request)
        source: _Source | None = None
        session = self._assume(access, "source.roleArn")
        if session is not None:
            source = self._guarded(
                partial(self._check_source, session),
                "source-exists",
                access,
                request.source.cluster_identifier or request.source.snapshot_identifier or "",
                "rds:DescribeDBClusters and rds:DescribeDBClusterSnapshots",
                needed_by_run=True,
            )
            key = source.customer_key_arn if source is not None else None
            # A source under the share key itself is the share-key-policy check's business.
            if source is not None and key and not _same_key(key, request.share_kms_key_arn):
                self._guarded(
                    partial(self._check_source_key, session, source, key),
                    "source-key-use",
                    access,
                    key,
                    "kms:GetKeyPolicy on the source key",
                    needed_by_run=False,
                )
            self._guarded(
                partial(self._check_share_key, session, source),
                "share-key",
                access,
                request.share_kms_key_arn,
                "kms:DescribeKey and kms:GetKeyPolicy on the share key",
                needed_by_run=False,
            )
            created = self._source_snapshots(source)
            if source is not None:
                plan = permissions.source_plan(
                    source.kind, source.identifier, self.run_id, self._needs_share_copy(source)
                )
                needs = permissions.source_needs(self._arns(access), plan, self.run_id)
                self._check_permissions(session, access, needs)
            self._guarded(
                partial(self._check_quotas, session, access, created, 0, 0),
                "snapshot-quota",
                access,
                MANUAL_CLUSTER_SNAPSHOTS_QUOTA,
                "rds:DescribeDBClusterSnapshots",
                needed_by_run=False,
            )
        self._found_source = source
        for index, target in enumerate(request.targets):
            self._check_target(index, target)
        return PreflightReport(self.run_id, self.findings, self._plan(source))

    # --- permissions (the member roles' IAM, for every call the run makes) ---------------------------------

    def _arns(self, access: AccountAccess) -> permissions.Arns:
        return permissions.Arns(self.partition, self.region, access.account_id)

    def _check_permissions(
        self, session: boto3.Session, access: AccountAccess, needs: list[permissions.Need]
    ) -> None:
        """Every authorisation the run's calls cause in this account, simulated for the member role."""
        try:
            refused = permissions.refusals(_client(session, "iam"), access.role_arn, needs)
        except (ClientError, BotoCoreError, NotImplementedError) as error:
            why = (
                f"{error_code(error)}: {error_message(error)}"
                if isinstance(error, ClientError)
                else str(error)
            )
            self._add(
                "warning",
                "permissions",
                access.account_id,
                access.role_arn,
                f"could not simulate the permissions of {access.role_arn} ({why or type(error).__name__}); the "
                "run's own calls will tell. Grant the role iam:SimulatePrincipalPolicy on itself (the member "
                "templates' SimulateOwnPolicies statement) to check them before anything is created.",
            )
            return
        for refusal in refused:
            need = refusal.need
            tagged = any(key.startswith("aws:RequestTag/") for key, _ in need.context)
            conditions = ", ".join(
                f"{key}={'/'.join(values)}" for key, values in need.context if not key.startswith("aws:")
            )
            conditions = ", ".join(filter(None, ["the run's tags" if tagged else "", conditions]))
            self._add(
                "warning" if need.only_if else "error",
                "permissions",
                access.account_id,
                need.resource,
                f"role {access.role_arn} may not perform {need.action} on {need.resource}"
                + (f" (with {conditions})" if conditions else "")
                + f": {refusal.decision}, so {need.step} would fail"
                + (f" if {need.only_if}" if need.only_if else "")
                + f". Add or restore the statement {need.statement} (or an equivalent grant) in the role's policy.",
            )
        if not refused:
            self._add(
                "info",
                "permissions",
                access.account_id,
                access.role_arn,
                f"{access.role_arn} may make every call the run makes in this account ({len(needs)} "
                "authorisations, iam:SimulatePrincipalPolicy of its IAM policies).",
            )

    def _check_target(self, index: int, target: Target) -> None:
        access = target_access(self.request, target)
        session = self._assume(access, f"targets[{index}].roleArn")
        if session is None:
            return
        shared = self._source_snapshots(self._found_source)[-1]
        needs = permissions.target_needs(
            self._arns(access),
            self.request.source.account_id,
            shared,
            self.run_id,
            target.cluster_identifier,
            target.instance_count,
            dict(target.tags),
        )
        self._check_permissions(session, access, needs)
        self._guarded(
            partial(self._check_target_key, session, index, target),
            "target-key",
            access,
            target.kms_key_arn,
            "kms:DescribeKey on the target key",
            needed_by_run=False,
        )
        self._guarded(
            partial(self._check_target_names, session, index, target),
            "target-cluster-id",
            access,
            target.cluster_identifier,
            "rds:DescribeDBClusters and rds:DescribeDBInstances",
            needed_by_run=True,
        )
        self._guarded(
            partial(self._check_networking, session, index, target),
            "target-networking",
            access,
            target.cluster_identifier,
            "rds:DescribeDBSubnetGroups, ec2:DescribeSecurityGroups and rds:DescribeDBClusterParameterGroups",
            needed_by_run=False,
        )
        self._guarded(
            partial(
                self._check_quotas,
                session,
                access,
                [naming.target_copy_id(self.run_id)],
                1,
                target.instance_count,
            ),
            "snapshot-quota",
            access,
            MANUAL_CLUSTER_SNAPSHOTS_QUOTA,
            "rds:DescribeDBClusterSnapshots",
            needed_by_run=False,
        )

    def _add(self, severity: Severity, check: str, account_id: str, resource: str, message: str) -> None:
        self.findings.append(Finding(severity, check, account_id, resource, message))

    def _assume(self, access: AccountAccess, field_name: str) -> boto3.Session | None:
        try:
            return aws.session_for(access)
        except AssumeRoleError as error:
            self._add(
                "error",
                "assume-role",
                access.account_id,
                access.role_arn,
                f"cannot assume {access.role_arn} ({field_name}): {_cause(error)}. Let the orchestrator "
                "assume it: the role's trust policy must name the orchestrator's principal (and the "
                "externalId, if one is set, must match); the orchestrator's MemberRoleArnPattern must match "
                "the role ARN. The other checks in this account were skipped.",
            )
            return None

    def _guarded[T](
        self,
        check_fn: Callable[[], T],
        check: str,
        access: AccountAccess,
        resource: str,
        permission: str,
        *,
        needed_by_run: bool,
    ) -> T | None:
        """Run one check; a call the role may not make becomes a finding instead of ending the preflight.

        It is an error when the run itself makes that call (the run would fail the same way), a warning
        when only the preflight needs it.
        """
        try:
            return check_fn()
        except ClientError as error:
            code = error_code(error)
            self._add(
                "error" if needed_by_run else "warning",
                check,
                access.account_id,
                resource,
                f"could not check {resource}: {code}: {error_message(error)}. "
                + (
                    f"Grant {permission} to {access.role_arn}; "
                    if "denied" in code.lower() or "unauthorized" in code.lower()
                    else ""
                )
                + ("the run needs this too." if needed_by_run else "this check was skipped."),
            )
        except BotoCoreError as error:
            self._add(
                "warning",
                check,
                access.account_id,
                resource,
                f"could not check {resource}: {error}. This check was skipped; run the preflight again.",
            )
        return None

    # --- source ---------------------------------------------------------------------------------------

    def _check_source(self, session: boto3.Session) -> _Source | None:
        source = self.request.source
        rds = _rds(session)
        where = f"account {source.account_id} {self.region}"
        if source.cluster_identifier:
            cluster_id = source.cluster_identifier
            try:
                cluster = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
            except ClientError as error:
                if error_code(error) != "DBClusterNotFoundFault":
                    raise
                self._add(
                    "error",
                    "source-exists",
                    source.account_id,
                    cluster_id,
                    f"source cluster {cluster_id} does not exist in {where} (or {source.role_arn} cannot "
                    "see it). Fix source.clusterIdentifier, or give source.snapshotIdentifier instead.",
                )
                return None
            status = cluster.get("Status", "unknown")
            if status != "available":
                # CreateDBClusterSnapshot refuses a cluster that is not available (stopped, stopping,
                # modifying, ...) with InvalidDBClusterStateFault, so the run cannot even start:
                # https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBClusterSnapshot.html
                self._add(
                    "error",
                    "source-status",
                    source.account_id,
                    cluster_id,
                    f"source cluster {cluster_id} is {status}; RDS snapshots a cluster only when it is "
                    "available, so PrepareSourceSnapshot would fail. Wait until it is available (start it "
                    "if it is stopped), then run.",
                )
            encrypted = bool(cluster.get("StorageEncrypted"))
            key = cluster.get("KmsKeyId") if encrypted else None
            found = _Source(
                "cluster",
                cluster_id,
                encrypted,
                key,
                *self._encryption(session, key),
                cluster.get("Engine", ""),
            )
        else:
            snapshot_id = source.snapshot_identifier or ""
            try:
                snapshots = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snapshot_id)[
                    "DBClusterSnapshots"
                ]
            except ClientError as error:
                if error_code(error) != "DBClusterSnapshotNotFoundFault":
                    raise
                snapshots = []
            if not snapshots:
                self._add(
                    "error",
                    "source-exists",
                    source.account_id,
                    snapshot_id,
                    f"source cluster snapshot {snapshot_id} does not exist in {where} (or {source.role_arn} "
                    "cannot see it). Fix source.snapshotIdentifier (automated snapshots keep their 'rds:' "
                    "prefix), or give source.clusterIdentifier instead.",
                )
                return None
            snapshot = snapshots[0]
            status = snapshot.get("Status", "unknown")
            if status != "available":
                # CopyDBClusterSnapshot needs an available source snapshot (InvalidDBClusterSnapshotStateFault).
                self._add(
                    "error",
                    "source-status",
                    source.account_id,
                    snapshot_id,
                    f"source snapshot {snapshot_id} is {status}; RDS copies only an available snapshot, so "
                    "the run would fail. Wait until it is available, then run.",
                )
            encrypted = bool(snapshot.get("StorageEncrypted"))
            key = snapshot.get("KmsKeyId") if encrypted else None
            automated = snapshot.get("SnapshotType") == "automated"
            found = _Source(
                "automated-snapshot" if automated else "manual-snapshot",
                snapshot_id,
                encrypted,
                key,
                *self._encryption(session, key),
                snapshot.get("Engine", ""),
            )
        self._add("info", "source-encryption", source.account_id, found.identifier, self._describe(found))
        return found

    def _encryption(self, session: boto3.Session, key_id: str | None) -> tuple[Encryption, str | None]:
        """none, the AWS managed aws/rds key, or a customer-managed key (as the run labels it), and the
        key's ARN when DescribeKey showed it customer-managed (only then is its use checked)."""
        if not key_id:
            return "none", None
        source = self.request.source
        try:
            metadata = _kms(session).describe_key(KeyId=key_id)["KeyMetadata"]
        except ClientError as error:
            # Without DescribeKey the aws/rds key (whose policy admits the account's RDS callers) cannot be
            # told from a customer-managed one, so whether the role may use it is not checked.
            self._add(
                "warning",
                "source-encryption",
                source.account_id,
                key_id,
                f"cannot describe the source's key {key_id} ({error_code(error)}): {source.role_arn} lacks "
                "kms:DescribeKey on it, which the source stack's DescribeKeys statement grants on the keys in "
                "SourceClusterKmsKeyArns (member-accounts/source-account.yaml): add the key there. Until then "
                "the preflight treats it as customer-managed (the run re-encrypts either way) and did not "
                "check whether the role may use it.",
            )
            # The run labels an undescribable key customer-managed too; it re-encrypts it either way.
            return "customer-key", None
        if metadata.get("KeyManager") == "AWS":
            return "default-key", None
        return "customer-key", str(metadata.get("Arn") or key_id)

    def _describe(self, source: _Source) -> str:
        what = {
            "cluster": f"source cluster {source.identifier}",
            "manual-snapshot": f"source snapshot {source.identifier}",
            "automated-snapshot": f"source automated snapshot {source.identifier}",
        }[source.kind]
        if source.encryption == "none":
            return (
                f"{what} is not encrypted: it is shared unencrypted (Aurora cannot encrypt a snapshot by "
                "copying it) and each target's cluster is encrypted at restore with the target's key."
            )
        if source.encryption == "default-key":
            return (
                f"{what} is encrypted with the account's default aws/rds key {source.kms_key_id}, which cannot "
                "be shared: the run shares a copy re-encrypted with the share key."
            )
        if _same_key(source.kms_key_id, self.request.share_kms_key_arn):
            return f"{what} is encrypted with the share key itself."
        if source.customer_key_arn is None:
            return (
                f"{what} is encrypted with key {source.kms_key_id}, which could not be described: the run "
                "treats it as customer-managed and shares a copy re-encrypted with the share key."
            )
        return (
            f"{what} is encrypted with the customer-managed key {source.kms_key_id}: the run shares a copy "
            "re-encrypted with the share key."
        )

    # --- share key ------------------------------------------------------------------------------------

    def _check_share_key(self, session: boto3.Session, source: _Source | None) -> None:
        request = self.request
        account = request.source.account_id
        key_arn = request.share_kms_key_arn
        kms = _kms(session)
        # Sharing an unencrypted source does not use the share key: its problems cannot fail this run.
        unused = source is not None and not source.encrypted
        severity: Severity = "warning" if unused else "error"
        later = (
            " (The source is unencrypted, so this run does not use the share key; an encrypted source would.)"
            if unused
            else ""
        )
        metadata = self._describe_key(kms, key_arn, "share-key", account, "shareKmsKeyArn", severity, later)
        if metadata is None:
            return
        if metadata.get("KeyManager") == "AWS":
            self._add(
                severity,
                "share-key",
                account,
                key_arn,
                f"share key {key_arn} is an AWS managed key (such as the default aws/rds key): a snapshot "
                "encrypted with it cannot be shared with another account, and its key policy can never "
                "trust one. Create a customer-managed symmetric key in the source account "
                "(member-accounts/source-account.yaml makes one) and pass its ARN as shareKmsKeyArn." + later,
            )
            return
        self._check_key_metadata(metadata, "share-key", account, key_arn, "shareKmsKeyArn", severity, later)
        try:
            policy_text = kms.get_key_policy(KeyId=key_arn, PolicyName=KEY_POLICY_NAME)["Policy"]
        except ClientError as error:
            self._add(
                "warning",
                "share-key-policy",
                account,
                key_arn,
                f"cannot read the key policy of the share key ({error_code(error)}); grant kms:GetKeyPolicy "
                f"to the source role {request.source.role_arn} on this key so the preflight can check which "
                "target accounts it trusts.",
            )
            return
        policy = _parse_policy(policy_text)
        if policy is None:
            self._add(
                "warning",
                "share-key-policy",
                account,
                key_arn,
                "the share key's policy is not a JSON object; it was not checked.",
            )
            return
        # The source side: RDS in the source account copies into the share key for the source role.
        own = evaluate_key_policy(
            policy, account, self.region, CROSS_ACCOUNT_COPY_ACTIONS, request.source.role_arn
        )
        if own.certainly_missing:
            self._add(
                severity,
                "share-key-policy",
                account,
                key_arn,
                f"the share key's policy does not let the source role {request.source.role_arn} use it "
                f"through RDS: missing {', '.join(own.certainly_missing)}, so PrepareShareCopy would fail. "
                f"Keep the statement that delegates to arn:{self.partition}:iam::{account}:root (kms:*), or "
                "allow these actions to the role in the key policy." + later,
            )
        for target in request.targets:
            verdict = evaluate_key_policy(
                policy, target.account_id, self.region, CROSS_ACCOUNT_COPY_ACTIONS, target.role_arn
            )
            self._report_share_verdict(target, verdict, severity, later)

    def _report_share_verdict(
        self, target: Target, verdict: KeyPolicyVerdict, severity: Severity, later: str
    ) -> None:
        key_arn = self.request.share_kms_key_arn
        account = target.account_id
        via = rds_via_service(self.region)
        notes = f" Notes: {'; '.join(verdict.notes)}." if verdict.notes else ""
        certain = verdict.certainly_missing
        if certain:
            parts = [
                f"the share key's policy does not let account {account} (role {target.role_arn}) use the key "
                f"for the cross-account copy: missing {', '.join(certain)}, so CopyToTarget would fail with "
                "KmsKeyNotUsableError."
            ]
            wrong = [value for value in verdict.via_service_mismatches if value.lower() != via]
            if wrong:
                regions = ", ".join(wrong)
                parts.append(
                    f"Statements for it are limited by kms:ViaService to {regions}, but the copy runs in "
                    f"{self.region} through {via}: set the condition to {via}."
                )
            denied = [action for action in verdict.denied if action in certain]
            if denied:
                parts.append(f"An explicit Deny refuses {', '.join(denied)}: remove or narrow it.")
            statement = {
                "Sid": f"AuroraFerryTarget{account}",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{self.partition}:iam::{account}:root"},
                "Action": list(_SUGGESTED_TARGET_ACTIONS),
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": via}},
            }
            parts.append(
                "Fix: add this statement to the share key's policy (or add the account to TargetAccountIds "
                f"of member-accounts/source-account.yaml): {json.dumps(statement)}"
            )
            self._add(severity, "share-key-policy", account, key_arn, " ".join(parts) + notes + later)
        elif verdict.unsure:
            self._add(
                "warning",
                "share-key-policy",
                account,
                key_arn,
                f"whether the share key's policy lets account {account} use it for "
                f"{', '.join(verdict.unsure)} depends on conditions the preflight cannot evaluate; check "
                f"them against a request RDS makes in {self.region} for {target.role_arn}.{notes}",
            )
        else:
            self._add(
                "info",
                "share-key-policy",
                account,
                key_arn,
                f"the share key's policy lets account {account} use it through {via} "
                f"({', '.join(verdict.allowed)}); the role {target.role_arn} also needs them in its own IAM "
                f"policy for this key (cross-account use needs both).{notes}",
            )

    # --- target key -----------------------------------------------------------------------------------

    def _check_target_key(self, session: boto3.Session, index: int, target: Target) -> None:
        kms = _kms(session)
        key_arn = target.kms_key_arn
        field_name = f"targets[{index}].kmsKeyArn"
        metadata = self._describe_key(kms, key_arn, "target-key", target.account_id, field_name, "error", "")
        if metadata is None:
            return
        if metadata.get("KeyManager") == "AWS":
            self._add(
                "warning",
                "target-key",
                target.account_id,
                key_arn,
                f"target key {key_arn} is an AWS managed key: it protects the restored cluster for this "
                "account only and its policy can never be changed, so the cluster's snapshots can never be "
                f"shared again. Use a customer-managed key (member-accounts/target-account.yaml makes one) "
                f"as {field_name}.",
            )
        self._check_key_metadata(metadata, "target-key", target.account_id, key_arn, field_name, "error", "")
        # target-account.yaml names the role in the key policy, which is enough on its own in the key's
        # account, so those statements fix a refusal by either half.
        fix = (
            "add the key policy statements {sids} of member-accounts/target-account.yaml, which allow them "
            f"to the role {target.role_arn} itself with kms:ViaService {rds_via_service(self.region)} (or "
            "allow them in the role's IAM policy, where the key policy delegates to the account)"
        )
        sids = {
            "kms:CreateGrant": "OrchestratorRoleGrantToRds",
            "kms:DescribeKey": "OrchestratorRoleDescribe",
            "*": "OrchestratorRoleUseThroughRds",
        }
        self._check_key_use(
            session,
            _KeyUse(
                "target-key-use",
                target.role_arn,
                key_arn,
                CROSS_ACCOUNT_COPY_ACTIONS,
                "CopyToTarget and RestoreCluster would fail",
                sids,
                fix,
                fix,
            ),
        )

    # --- source key -----------------------------------------------------------------------------------

    def _check_source_key(self, session: boto3.Session, source: _Source, key_arn: str) -> None:
        """The run copies the source to the share key with the source role, and RDS then creates a grant
        on the source's own key, describes it and decrypts with it for that role."""
        role = self.request.source.role_arn
        account = self.request.source.account_id
        step = (
            "PrepareSourceSnapshot (copying the automated snapshot)"
            if source.kind == "automated-snapshot"
            else "PrepareShareCopy"
        )
        stack = "SourceClusterKmsKeyArns of the source stack (member-accounts/source-account.yaml)"
        sids = {
            "kms:CreateGrant": "GrantSourceClusterKeysToRds",
            "kms:Decrypt": "ReadSourceClusterKeysThroughRds",
            "kms:DescribeKey": "DescribeKeys",
        }
        self._check_key_use(
            session,
            _KeyUse(
                "source-key-use",
                role,
                key_arn,
                SOURCE_KEY_COPY_ACTIONS,
                f"{step} would fail to re-encrypt {source.identifier} with the share key",
                sids,
                f"add {key_arn} to {stack}, whose statements {{sids}} allow them to the role through RDS",
                f"let the key policy allow them to the role with kms:ViaService {rds_via_service(self.region)}, "
                f"or keep AWS's default statement delegating kms:* to arn:{self.partition}:iam::{account}:root "
                f"and add {key_arn} to {stack}",
            ),
        )

    # --- key use (target and source keys) -------------------------------------------------------------

    def _check_key_use(self, session: boto3.Session, use: _KeyUse) -> None:
        """May RDS use the key for the role? The two halves, combined as KMS combines them.

        The identity half comes from IAM's policy simulator (see _simulate), the key policy half from the
        static evaluator. In the key's own account a key policy statement naming the role is enough on its
        own; one naming the account (its root) only delegates to IAM, so the identity half must allow too.
        An explicit Deny on either side wins.
        https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
        https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam
        """
        account = _account_of(use.role_arn)
        policy: dict[str, Any] | None = None
        try:
            text = _kms(session).get_key_policy(KeyId=use.key_arn, PolicyName=KEY_POLICY_NAME)["Policy"]
        except ClientError as error:
            policy_problem = f"kms:GetKeyPolicy: {error_code(error)}"
        else:
            policy = _parse_policy(text)
            policy_problem = "" if policy is not None else "the key policy is not a JSON object"
        decisions, simulate_problem = self._simulate(session, use)
        if policy is None and decisions is None:
            self._add(
                "warning",
                use.check,
                account,
                use.key_arn,
                f"could not check whether {use.role_arn} may use {use.key_arn}: {policy_problem}; "
                f"iam:SimulatePrincipalPolicy: {simulate_problem}. Grant the role kms:GetKeyPolicy on the key "
                "(and iam:SimulatePrincipalPolicy on itself) to check it.",
            )
            return
        full = direct = None
        if policy is not None:
            full = evaluate_key_policy(policy, account, self.region, use.actions, use.role_arn)
            if _account_of(use.key_arn) == account:
                bare = without_account_delegation(policy, account)
                direct = evaluate_key_policy(bare, account, self.region, use.actions, use.role_arn)
        identity: dict[str, str] = {}  # refused by the role's IAM policies: action -> EvalDecision
        key_policy: list[str] = []  # refused by the key policy
        unsure: list[str] = []  # the answer rests on a key policy condition assumed to hold
        for action in use.actions:
            # Without the simulator the identity half is unknown: only the key policy is judged (as before).
            decision = "allowed" if decisions is None else decisions.get(action, "implicitDeny")
            if decision == "explicitDeny":  # an IAM Deny (or SCP, boundary) wins over any key policy
                identity[action] = decision
                continue
            named = direct is not None and action in direct.allowed  # the key policy names the role itself
            if not named and full is not None and action not in full.allowed:
                key_policy.append(action)
            elif not named and decision != "allowed":
                identity[action] = decision
            if any(verdict is not None and action in verdict.unsure for verdict in (full, direct)):
                unsure.append(action)
        if decisions is None:
            how = (
                f"static check of the key policy, because iam:SimulatePrincipalPolicy was unavailable "
                f"({simulate_problem}); the role's own IAM policies were not checked"
            )
        elif policy is None:
            how = (
                "iam:SimulatePrincipalPolicy of the role's IAM policies; the key policy was not checked "
                f"({policy_problem})"
            )
        else:
            how = "iam:SimulatePrincipalPolicy of the role's IAM policies, static check of the key policy"
        notes = f" Notes: {'; '.join(full.notes)}." if full is not None and full.notes else ""
        parts: list[str] = []
        denying = [action for action in identity if identity[action] == "explicitDeny"]
        if denying:
            parts.append(
                f"An explicit Deny (IAM policy, SCP or permissions boundary) refuses {', '.join(denying)}, "
                "whatever the key policy says: remove or narrow it."
            )
        refused = [action for action in identity if action not in unsure and action not in denying]
        if refused:
            listed = ", ".join(f"{action} ({identity[action]})" for action in refused)
            parts.append(
                f"Its IAM policies do not allow {listed}, and the key policy "
                + ("does not allow them to the role on its own" if policy is not None else "was not read")
                + f". Fix: {use.identity_fix.replace('{sids}', _sids(use, refused))}."
            )
        missing = [action for action in key_policy if action not in unsure]
        if missing and full is not None:
            parts.append(f"The key policy does not allow {', '.join(missing)} to the role or its account.")
            via = rds_via_service(self.region)
            wrong = [value for value in full.via_service_mismatches if value.lower() != via]
            if wrong:
                parts.append(
                    f"Its statements are limited by kms:ViaService to {', '.join(wrong)}, not {via}."
                )
            denied = [action for action in full.denied if action in missing]
            if denied:
                parts.append(f"An explicit Deny in it refuses {', '.join(denied)}: remove or narrow it.")
            parts.append(f"Fix: {use.key_policy_fix.replace('{sids}', _sids(use, missing))}.")
        if parts:
            self._add(
                "error",
                use.check,
                account,
                use.key_arn,
                f"role {use.role_arn} may not use key {use.key_arn} of account {account} through RDS, so "
                f"{use.consequence}. {' '.join(parts)} ({how}).{notes}",
            )
        elif unsure:
            self._add(
                "warning",
                use.check,
                account,
                use.key_arn,
                f"whether {use.role_arn} may use {use.key_arn} for {', '.join(unsure)} depends on conditions "
                f"the preflight cannot evaluate ({how}).{notes}",
            )
        else:
            self._add(
                "info",
                use.check,
                account,
                use.key_arn,
                f"role {use.role_arn} may use {use.key_arn} through RDS ({', '.join(use.actions)}; {how}).{notes}",
            )

    def _simulate(self, session: boto3.Session, use: _KeyUse) -> tuple[dict[str, str] | None, str]:
        """EvalDecision per action of the role's own IAM policies, or (None, why the simulator was unavailable).

        The identity half only: the simulator accepts a ResourcePolicy (the key policy) only with a
        CallerArn when PolicySourceArn is not an IAM user, and CallerArn must be an IAM user, so no valid call
        for a role includes the key policy; _check_key_use judges it statically. The context is that of a
        request RDS makes for the role in the source region.
        https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html
        https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
        """
        iam = _client(session, "iam")
        base_context = [
            _context_entry("kms:ViaService", rds_via_service(self.region)),
            _context_entry("kms:CallerAccount", _account_of(use.role_arn)),
        ]
        grant_context = [*base_context, _context_entry("kms:GrantIsForAWSResource", "true", "boolean")]
        grants = [action for action in use.actions if action in _GRANT_ACTIONS]
        others = [action for action in use.actions if action not in _GRANT_ACTIONS]
        decisions: dict[str, str] = {}
        try:
            for actions, context in ((grants, grant_context), (others, base_context)):
                if not actions:
                    continue
                for page in iam.get_paginator("simulate_principal_policy").paginate(
                    PolicySourceArn=use.role_arn,
                    ActionNames=actions,
                    ResourceArns=[use.key_arn],
                    ContextEntries=context,
                ):
                    for result in page.get("EvaluationResults", []):
                        decisions[str(result["EvalActionName"])] = str(result["EvalDecision"])
        except ClientError as error:
            # AccessDenied (the role may not simulate itself), NotImplemented and the like.
            return None, f"{error_code(error)}: {error_message(error)}"
        except (BotoCoreError, NotImplementedError) as error:
            # moto does not implement the simulator; the static check stands in for it.
            return None, str(error) or type(error).__name__
        return decisions, ""

    # --- keys (shared) --------------------------------------------------------------------------------

    def _describe_key(
        self,
        kms: KMSClient,
        key_arn: str,
        check: str,
        account: str,
        field_name: str,
        severity: Severity,
        later: str,
    ) -> KeyMetadataTypeDef | None:
        try:
            return kms.describe_key(KeyId=key_arn)["KeyMetadata"]
        except ClientError as error:
            if error_code(error) == "NotFoundException":
                self._add(
                    severity,
                    check,
                    account,
                    key_arn,
                    f"key {key_arn} does not exist in account {account} {self.region}. Create a "
                    f"customer-managed symmetric key there (see member-accounts/) and set {field_name} to "
                    "its ARN." + later,
                )
            else:
                self._add(
                    "warning",
                    check,
                    account,
                    key_arn,
                    f"cannot describe key {key_arn} ({error_code(error)}: {error_message(error)}); grant "
                    "kms:DescribeKey on it to the role. Its state, manager and policy were not checked.",
                )
            return None

    def _check_key_metadata(
        self,
        metadata: KeyMetadataTypeDef,
        check: str,
        account: str,
        key_arn: str,
        field_name: str,
        severity: Severity,
        later: str,
    ) -> None:
        state = metadata.get("KeyState", "unknown")
        if state != "Enabled":
            fix = {
                "Disabled": "enable it (aws kms enable-key)",
                "PendingDeletion": "cancel its deletion (aws kms cancel-key-deletion) and enable it",
            }.get(state, f"use an Enabled key as {field_name}")
            self._add(
                severity,
                check,
                account,
                key_arn,
                f"key {key_arn} is {state}; RDS can only use an Enabled key: {fix}." + later,
            )
        spec = metadata.get("KeySpec", "SYMMETRIC_DEFAULT")
        usage = metadata.get("KeyUsage", "ENCRYPT_DECRYPT")
        if spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT":
            self._add(
                severity,
                check,
                account,
                key_arn,
                f"key {key_arn} is {spec}/{usage}; RDS encrypts only with symmetric encryption keys "
                f"(SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT). Set {field_name} to such a key." + later,
            )
        key_region = str(metadata.get("Arn", key_arn)).split(":")[3]
        if key_region != self.region:
            self._add(
                severity,
                check,
                account,
                key_arn,
                f"key {key_arn} is in {key_region}, but the run works in {self.region} and KMS keys are "
                f"regional. Set {field_name} to a key in {self.region}." + later,
            )

    # --- target names and networking ------------------------------------------------------------------

    def _check_target_names(self, session: boto3.Session, index: int, target: Target) -> None:
        rds = _rds(session)
        cluster_id = target.cluster_identifier
        try:
            rds.describe_db_clusters(DBClusterIdentifier=cluster_id)
        except ClientError as error:
            if error_code(error) != "DBClusterNotFoundFault":
                raise
        else:
            self._add(
                "error",
                "target-cluster-id",
                target.account_id,
                cluster_id,
                f"a cluster named {cluster_id} already exists in account {target.account_id} {self.region}, "
                f"so CopyToTarget would fail with TargetConflictError. Choose another "
                f"targets[{index}].clusterIdentifier (or rename or delete the existing cluster).",
            )
            return
        taken: list[str] = []
        for number in range(target.instance_count):
            instance_id = naming.instance_id(cluster_id, number)
            try:
                rds.describe_db_instances(DBInstanceIdentifier=instance_id)
            except ClientError as error:
                if error_code(error) not in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
                    raise
            else:
                taken.append(instance_id)
        if taken:
            self._add(
                "error",
                "target-cluster-id",
                target.account_id,
                cluster_id,
                f"instance ids {', '.join(taken)} already exist in account {target.account_id}; the run names "
                f"the instances {cluster_id}-1..{target.instance_count}, so CreateInstances would fail. "
                f"Choose another targets[{index}].clusterIdentifier.",
            )

    def _check_networking(self, session: boto3.Session, index: int, target: Target) -> None:
        rds = _rds(session)
        account = target.account_id
        where = f"account {account} {self.region}"
        subnet_vpc: str | None = None
        if target.db_subnet_group_name:
            name = target.db_subnet_group_name
            try:
                group = rds.describe_db_subnet_groups(DBSubnetGroupName=name)["DBSubnetGroups"][0]
                subnet_vpc = group.get("VpcId")
            except ClientError as error:
                if error_code(error) != "DBSubnetGroupNotFoundFault":
                    raise
                self._add(
                    "error",
                    "subnet-group",
                    account,
                    name,
                    f"DB subnet group {name} does not exist in {where}, so RestoreCluster would fail. Create "
                    f"it (with subnets in at least two Availability Zones) or fix targets[{index}].dbSubnetGroupName.",
                )
        if target.vpc_security_group_ids:
            self._check_security_groups(session, index, target, subnet_vpc)
        if target.db_cluster_parameter_group_name:
            name = target.db_cluster_parameter_group_name
            try:
                groups = rds.describe_db_cluster_parameter_groups(DBClusterParameterGroupName=name)[
                    "DBClusterParameterGroups"
                ]
            except ClientError as error:
                if error_code(error) not in ("DBParameterGroupNotFound", "DBParameterGroupNotFoundFault"):
                    raise
                self._add(
                    "error",
                    "parameter-group",
                    account,
                    name,
                    f"DB cluster parameter group {name} does not exist in {where}, so RestoreCluster would "
                    f"fail. Create it for the source's engine or fix targets[{index}].dbClusterParameterGroupName.",
                )
                return
            self._add(
                "info",
                "parameter-group",
                account,
                name,
                f"DB cluster parameter group {name} exists (family "
                f"{groups[0].get('DBParameterGroupFamily', 'unknown') if groups else 'unknown'}); it must match "
                "the source's engine and major version.",
            )

    def _check_security_groups(
        self, session: boto3.Session, index: int, target: Target, subnet_vpc: str | None
    ) -> None:
        ec2 = _client(session, "ec2")
        wanted = list(target.vpc_security_group_ids)
        # A filter, not GroupIds: the answer lists the groups that exist instead of failing on the first
        # missing one, so every missing id is named at once.
        found: dict[str, str | None] = {}
        for page in ec2.get_paginator("describe_security_groups").paginate(
            Filters=[{"Name": "group-id", "Values": wanted}]
        ):
            for group in page.get("SecurityGroups", []):
                found[str(group["GroupId"])] = group.get("VpcId")
        missing = [group for group in wanted if group not in found]
        account = target.account_id
        if missing:
            self._add(
                "error",
                "security-groups",
                account,
                ", ".join(missing),
                f"security groups {', '.join(missing)} do not exist in account {account} {self.region} "
                "(security groups belong to one account and region), so RestoreCluster would fail. Fix "
                f"targets[{index}].vpcSecurityGroupIds.",
            )
        if subnet_vpc:
            elsewhere = [group for group, vpc in found.items() if vpc and vpc != subnet_vpc]
            if elsewhere:
                self._add(
                    "error",
                    "security-groups",
                    account,
                    ", ".join(elsewhere),
                    f"security groups {', '.join(elsewhere)} are not in {subnet_vpc}, the VPC of subnet group "
                    f"{target.db_subnet_group_name}; a cluster's security groups must be in its VPC. Fix "
                    f"targets[{index}].vpcSecurityGroupIds or dbSubnetGroupName.",
                )

    # --- quotas ---------------------------------------------------------------------------------------

    def _check_quotas(
        self,
        session: boto3.Session,
        access: AccountAccess,
        snapshots: list[str],
        clusters: int,
        instances: int,
    ) -> None:
        """Room for the manual snapshots (and, where the quota answer has them, clusters and instances)."""
        rds = _rds(session)
        account = access.account_id
        quotas, unavailable = _account_quotas(rds)
        if MANUAL_CLUSTER_SNAPSHOTS_QUOTA in quotas:
            limit = quotas[MANUAL_CLUSTER_SNAPSHOTS_QUOTA][1]
            basis = f"quota {MANUAL_CLUSTER_SNAPSHOTS_QUOTA}"
        else:
            limit = DEFAULT_MANUAL_CLUSTER_SNAPSHOT_QUOTA
            basis = f"assumed the documented default: {unavailable or 'quota not in the answer'}"
        count = 0
        for page in rds.get_paginator("describe_db_cluster_snapshots").paginate(SnapshotType="manual"):
            count += len(page.get("DBClusterSnapshots", []))
        names = ", ".join(snapshots)
        if limit - count < len(snapshots):
            self._add(
                "error",
                "snapshot-quota",
                account,
                MANUAL_CLUSTER_SNAPSHOTS_QUOTA,
                f"account {account} has {count} manual cluster snapshots in {self.region} and may have {limit} "
                f"({basis}); this run creates {len(snapshots)} ({names}), so it would fail with "
                "SnapshotQuotaExceeded. Delete manual cluster snapshots you no longer need, or ask for a "
                "higher 'Manual DB cluster snapshots' quota in Service Quotas.",
            )
        else:
            self._add(
                "info",
                "snapshot-quota",
                account,
                MANUAL_CLUSTER_SNAPSHOTS_QUOTA,
                f"{count} of {limit} manual cluster snapshots used ({basis}); this run creates "
                f"{len(snapshots)} ({names}).",
            )
        for quota, needed in (("DBClusters", clusters), ("DBInstances", instances)):
            if not needed or quota not in quotas:
                continue
            used, most = quotas[quota]
            if most - used < needed:
                self._add(
                    "error",
                    "account-quota",
                    account,
                    quota,
                    f"account {account} uses {used} of {most} {quota} in {self.region}; this run adds "
                    f"{needed}. Free some or ask for a higher quota in Service Quotas.",
                )

    # --- plan -----------------------------------------------------------------------------------------

    def _source_snapshots(self, source: _Source | None) -> list[str]:
        """The manual snapshots the run makes in the source account, as migration.py decides them."""
        run = self.run_id
        if source is None:
            # Unknown source: the largest case, a cluster snapshot and a re-encrypted copy.
            return [naming.source_snapshot_id(run), naming.share_copy_id(run)]
        if source.kind == "cluster":
            names = [naming.source_snapshot_id(run)]
            if self._needs_share_copy(source):
                names.append(naming.share_copy_id(run))
            return names
        if source.kind == "automated-snapshot":
            return [naming.source_copy_id(run)]
        return [naming.share_copy_id(run)]

    def _needs_share_copy(self, source: _Source) -> bool:
        """A snapshot the run made is shared as is when unencrypted or already under the share key."""
        if source.kind == "manual-snapshot":
            return True
        if source.kind == "automated-snapshot":
            return False
        return source.encrypted and not _same_key(source.kms_key_id, self.request.share_kms_key_arn)

    def _plan(self, source: _Source | None) -> list[PlanStep]:
        request = self.request
        run = self.run_id
        account = request.source.account_id
        share_key = request.share_kms_key_arn
        policy = request.options.cleanup
        encrypted = source.encrypted if source is not None else True
        source_cleanup = (
            f"unshared, then deleted by Cleanup (cleanup={policy.value})"
            if policy in (CleanupPolicy.DELETE, CleanupPolicy.KEEP_TARGET_COPIES)
            else f"unshared by Cleanup and kept, tagged {naming.RUN_ID_TAG}={run} (cleanup={policy.value})"
        )
        source_key = (
            "unknown (source not found)" if source is None else (source.kms_key_id or "none (unencrypted)")
        )
        steps = [
            PlanStep(
                "ValidateInput",
                ORCHESTRATOR,
                "check the input against the contract; derive the run id from the execution name",
            )
        ]
        kind = source.kind if source is not None else "cluster"
        identifier = request.source.cluster_identifier or request.source.snapshot_identifier or ""
        if kind == "cluster":
            snap = naming.source_snapshot_id(run)
            steps.append(
                PlanStep(
                    "PrepareSourceSnapshot",
                    account,
                    f"snapshot cluster {identifier} (the cluster itself is never modified); wait until available",
                    source_key,
                    f"manual cluster snapshot {snap}",
                    source_cleanup,
                )
            )
        elif kind == "automated-snapshot":
            snap = naming.source_copy_id(run)
            steps.append(
                PlanStep(
                    "PrepareSourceSnapshot",
                    account,
                    f"copy automated snapshot {identifier} to a manual one (automated snapshots cannot be "
                    "shared)"
                    + (", re-encrypted with the share key" if encrypted else "")
                    + "; wait until available",
                    share_key if encrypted else "none (unencrypted)",
                    f"manual cluster snapshot {snap}",
                    source_cleanup,
                )
            )
        else:
            snap = identifier
            steps.append(
                PlanStep(
                    "PrepareSourceSnapshot",
                    account,
                    f"use snapshot {identifier} as given; it is never modified, shared or deleted",
                    source_key,
                    None,
                    "untouched",
                )
            )
        if source is None or self._needs_share_copy(source):
            shared = naming.share_copy_id(run)
            steps.append(
                PlanStep(
                    "PrepareShareCopy",
                    account,
                    f"copy {snap} to {shared}"
                    + (
                        " re-encrypted with the share key"
                        if encrypted
                        else " unencrypted (Aurora cannot encrypt a snapshot by copying it)"
                    )
                    + "; wait until available",
                    share_key if encrypted else "none (unencrypted)",
                    f"manual cluster snapshot {shared}",
                    source_cleanup,
                )
            )
        else:
            shared = snap
            steps.append(
                PlanStep(
                    "PrepareShareCopy",
                    account,
                    f"skipped: {snap} is the run's own and "
                    + ("already under the share key" if encrypted else "unencrypted"),
                )
            )
        shared_arn = f"arn:{self.partition}:rds:{self.region}:{account}:cluster-snapshot:{shared}"
        target_ids = [target.account_id for target in request.targets]
        steps.append(
            PlanStep(
                "ShareSnapshot",
                account,
                f"add {', '.join(target_ids)} to the restore attribute of {shared} "
                f"({len(target_ids)} of at most {MAX_TARGETS} accounts; never 'all')",
                share_key if encrypted else "none (unencrypted)",
                f"a share of {shared_arn}",
                "unshared by Cleanup under every cleanup policy",
            )
        )
        copy_cleanup = (
            f"deleted by Cleanup (cleanup={policy.value})"
            if policy is CleanupPolicy.DELETE
            else f"kept, tagged {naming.RUN_ID_TAG}={run} (cleanup={policy.value})"
        )
        never = "never deleted by the tool, even if a later step fails (tagged with the run id)"
        for target in request.targets:
            copy = naming.target_copy_id(run)
            steps.append(
                PlanStep(
                    "CopyToTarget",
                    target.account_id,
                    f"copy {shared_arn} by its ARN to {copy}"
                    + (" re-encrypted with the target key" if encrypted else " (unencrypted)")
                    + "; wait until available",
                    target.kms_key_arn if encrypted else "none (unencrypted)",
                    f"manual cluster snapshot {copy}",
                    copy_cleanup,
                )
            )
            extras = [
                f"subnet group {target.db_subnet_group_name}" if target.db_subnet_group_name else "",
                f"security groups {', '.join(target.vpc_security_group_ids)}"
                if target.vpc_security_group_ids
                else "",
                f"parameter group {target.db_cluster_parameter_group_name}"
                if target.db_cluster_parameter_group_name
                else "",
                f"deletion protection {'on' if target.deletion_protection else 'off'}",
            ]
            steps.append(
                PlanStep(
                    "RestoreCluster",
                    target.account_id,
                    f"restore cluster {target.cluster_identifier} from {copy}, encrypted with the target key "
                    f"({'; '.join(e for e in extras if e)}); wait until available",
                    target.kms_key_arn,
                    f"cluster {target.cluster_identifier} (no instances yet)",
                    never,
                )
            )
            instance_ids = [
                naming.instance_id(target.cluster_identifier, n) for n in range(target.instance_count)
            ]
            steps.append(
                PlanStep(
                    "CreateInstances",
                    target.account_id,
                    f"add {target.instance_count} {target.instance_class} instance(s) to "
                    f"{target.cluster_identifier} (the first is the writer); wait until available",
                    target.kms_key_arn,
                    ", ".join(instance_ids),
                    never,
                )
            )
        made = self._source_snapshots(source)
        steps.append(
            PlanStep(
                "Cleanup",
                account,
                f"unshare {', '.join(made)} from the targets and "
                + ("delete them" if policy is not CleanupPolicy.KEEP else "keep them")
                + f" (cleanup={policy.value}); only snapshots carrying this run's tags are touched",
            )
        )
        for target in request.targets:
            steps.append(
                PlanStep(
                    "Cleanup",
                    target.account_id,
                    ("delete " if policy is CleanupPolicy.DELETE else "keep ")
                    + f"{naming.target_copy_id(run)} (cleanup={policy.value}); the cluster and instances stay",
                )
            )
        steps.append(
            PlanStep("Summarize", ORCHESTRATOR, "report ARNs, endpoints, timings and what cleanup did")
        )
        return steps


# --- small helpers -----------------------------------------------------------------------------------


def _rds(session: boto3.Session) -> RDSClient:
    return session.client("rds", config=_CLIENT_CONFIG)


def _kms(session: boto3.Session) -> KMSClient:
    return session.client("kms", config=_CLIENT_CONFIG)


def _client(session: boto3.Session, service: str) -> Any:
    """iam and ec2 clients, untyped: their stubs are not part of the project's typing dependencies."""
    return session.client(service, config=_CLIENT_CONFIG)  # type: ignore[call-overload]


def _account_quotas(rds: RDSClient) -> tuple[dict[str, tuple[int, int]], str]:
    """{quota name: (used, max)} from DescribeAccountAttributes, or ({}, why it is unavailable)."""
    try:
        answer = rds.describe_account_attributes()
    except ClientError as error:
        return {}, f"rds:DescribeAccountAttributes: {error_code(error)}"
    except (BotoCoreError, NotImplementedError) as error:
        # moto does not implement DescribeAccountAttributes.
        return {}, f"DescribeAccountAttributes unavailable: {error}"
    quotas: dict[str, tuple[int, int]] = {}
    for quota in answer.get("AccountQuotas", []):
        name = quota.get("AccountQuotaName")
        if name:
            quotas[name] = (int(quota.get("Used", 0)), int(quota.get("Max", 0)))
    return quotas, ""


def _parse_policy(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        policy = json.loads(text)
    except ValueError:
        return None
    return policy if isinstance(policy, dict) else None


def _same_key(kms_key_id: str | None, key_arn: str) -> bool:
    """Snapshots report their key as an ARN (or, from some APIs, a bare key id)."""
    if not kms_key_id:
        return False
    return kms_key_id == key_arn or kms_key_id.rsplit("/", 1)[-1] == key_arn.rsplit("/", 1)[-1]


def _context_entry(name: str, value: str, kind: str = "string") -> dict[str, Any]:
    return {"ContextKeyName": name, "ContextKeyValues": [value], "ContextKeyType": kind}


def _account_of(arn: str) -> str:
    return arn.split(":")[4]


def _sids(use: _KeyUse, actions: list[str]) -> str:
    """The template statements that grant ``actions``, each named once."""
    return ", ".join(dict.fromkeys(use.sids.get(action) or use.sids.get("*", "") for action in actions))


def _cause(error: AssumeRoleError) -> str:
    # AssumeRoleError's text repeats the account prefix and the role; the finding names both already.
    text = str(error)
    return text.split(": ", 1)[1] if ": " in text else text
