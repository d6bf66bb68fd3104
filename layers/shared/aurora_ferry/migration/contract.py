"""The execution input contract for a migration, and its validation.

Every workflow entry point (EventBridge schedule, console, ops pipeline, `ferry local run`) hands the
state machine the same JSON document. It is checked here, in full, before any AWS call, and every
problem is reported with the field path and what is allowed, so a bad input never half-runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from aurora_ferry import core

MAX_TARGETS = 20  # a manual snapshot can be shared with at most 20 accounts


class CleanupPolicy(StrEnum):
    """What happens to the intermediate snapshots this run created, once targets are restored."""

    DELETE = "delete"  # unshare, then delete every intermediate in source and targets
    KEEP_TARGET_COPIES = "keep-target-copies"  # unshare, delete source-side ones, keep target copies
    KEEP = "keep"  # unshare only; intermediates stay, tagged, for a later cleanup


class OnExisting(StrEnum):
    """What a run does when the target cluster's name is already taken in the target account."""

    FAIL = "fail"  # refuse in preflight: the name belongs to someone
    # Refresh in place (a cluster an earlier run made, tagged aurora-ferry:managed=true, only): restore under a
    # temporary name, then swap the names and delete the old cluster (README "Refresh in place").
    REPLACE = "replace"


class WaitStrategy(StrEnum):
    """How the run waits for a snapshot, cluster or instances to become available."""

    # RDS events (through EventBridge) complete the waits that have an event; a scheduled sweeper and a
    # heartbeat timeout back them up. Snapshot copies have no completion event and are polled with back-off.
    EVENTS = "events"
    # Every wait checks every options.pollIntervalSeconds, as before events existed.
    POLLING = "polling"


class CrossRegionCopy(StrEnum):
    """How a target in another Region than the source gets the snapshot (README "Cross-Region targets")."""

    # The target copies the shared snapshot across accounts and Regions in one call.
    ONE_STEP = "one-step"
    # The source account first copies the snapshot into the target's Region under its share key there
    # (regionalShareKmsKeyArns), shares that copy, and the target copies or restores it like a same-Region target:
    # for where one step is refused.
    TWO_STEP = "two-step"


@dataclass(frozen=True)
class Source(core.AccountAccess):
    """The account the run reads from (the AccountAccess it extends) and the cluster or snapshot it copies."""

    cluster_identifier: str | None = None
    snapshot_identifier: str | None = None

    @property
    def snapshot_is_arn(self) -> bool:
        return bool(self.snapshot_identifier and self.snapshot_identifier.startswith("arn:"))


@dataclass(frozen=True, kw_only=True)
class Target(core.ClusterTarget):
    """A target account and its cluster, restored from a copy encrypted with the target's own key."""

    kms_key_arn: str
    cluster_identifier: str
    on_existing: OnExisting = OnExisting.FAIL
    # With REPLACE: the old cluster is deleted with a final snapshot, unless this is false.
    final_snapshot: bool = True
    # The target's Region; None: the source's (README "Cross-Region targets").
    region: str | None = None
    # Overrides of the settings the target carries from the source (README "Input contract", targets[].settings);
    # None, not given, leaves the field out of the normalised input.
    settings: core.CarriedSettings | None = None


@dataclass(frozen=True)
class Options:
    poll_interval_seconds: int = 30
    max_poll_attempts: int = 720
    cleanup: CleanupPolicy = CleanupPolicy.DELETE
    wait_strategy: WaitStrategy = WaitStrategy.EVENTS
    # With KEEP_TARGET_COPIES: keep only the newest N copies per target cluster (cleanup_steps, "retention").
    # None (the default) keeps every copy, and leaves the field out of the normalised input.
    keep_target_copies: int | None = None
    cross_region_copy: CrossRegionCopy = CrossRegionCopy.ONE_STEP


@dataclass(frozen=True)
class MigrationRequest:
    source: Source
    share_kms_key_arn: str
    targets: tuple[Target, ...]
    options: Options = Options()
    # With options.crossRegionCopy "two-step": the source account's share key in each target Region other than
    # the source's (Region -> key ARN); None otherwise, which leaves the field out of the normalised input.
    regional_share_kms_key_arns: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The normalised contract, camelCase, defaults filled in: what the state machine carries."""
        normalised: dict[str, Any] = core.camel_json(asdict(self))
        return normalised


# --- parsing --------------------------------------------------------------------------------------------


def parse_migration_request(raw: Any) -> MigrationRequest:
    """Validate the raw execution input; raise InvalidInputError naming every bad field."""
    problems = core.Problems()
    fields = {"source", "shareKmsKeyArn", "targets", "options", "regionalShareKmsKeyArns"}
    raw = core.input_object(raw, fields, problems)

    source = _parse_source(raw.get("source"), problems)
    share_key = core.valid_kms_key_arn(raw.get("shareKmsKeyArn"), "shareKmsKeyArn", problems)
    indexed_targets = _parse_targets(raw.get("targets"), problems)
    targets = None if indexed_targets is None else tuple(target for _, target in indexed_targets)
    options = _parse_options(raw.get("options", {}), problems)

    if source and share_key:
        _check_share_key_against_source(source, share_key, problems)
    if source:
        _check_targets_against_source(source, indexed_targets or [], problems)
    regional_keys = _parse_regional_share_keys(raw, source, indexed_targets or [], options, problems)
    request = None
    if source and share_key and targets is not None:
        request = MigrationRequest(
            source=source,
            share_kms_key_arn=share_key,
            targets=targets,
            options=options,
            regional_share_kms_key_arns=regional_keys,
        )
    # Last, as a whole: fields that each pass can still add up to more than a run's state can carry.
    core.check_input_size(raw, None if request is None else request.to_json(), problems)
    if problems.items or request is None:
        raise core.InvalidInputError(problems.items or ["input: incomplete"])
    return request


def _check_share_key_against_source(source: Source, share_key: str, problems: core.Problems) -> None:
    match = core.KMS_KEY_ARN.fullmatch(share_key)
    assert match is not None
    if match["account"] != source.account_id:
        problems.add(
            "shareKmsKeyArn",
            f"must be a key in the source account {source.account_id}, got account {match['account']}",
        )
    if match["region"] != source.region:
        problems.add(
            "shareKmsKeyArn",
            f"must be in the source region {source.region} (KMS keys are regional), got {match['region']}",
        )


def _parse_source(value: Any, problems: core.Problems) -> Source | None:
    fields = {*core.SOURCE_ACCOUNT_FIELDS, "clusterIdentifier", "snapshotIdentifier"}
    requirement = "required object with accountId, region, roleArn and a cluster or snapshot"
    raw = core.valid_object(value, "source", fields, problems, requirement)
    if raw is None:
        return None
    account, region, role, external_id = core.valid_source_account(raw, problems)
    cluster = raw.get("clusterIdentifier")
    snapshot = raw.get("snapshotIdentifier")
    if (cluster is None) == (snapshot is None):
        problems.add("source", "give exactly one of clusterIdentifier or snapshotIdentifier")
    if cluster is not None:
        cluster = core.valid_cluster_id(cluster, "source.clusterIdentifier", problems)
    if snapshot is not None:
        snapshot = _snapshot_ref(snapshot, "source.snapshotIdentifier", account, region, problems)
    if account is None or region is None or role is None:
        return None
    return Source(
        account, region, role, external_id, cluster_identifier=cluster, snapshot_identifier=snapshot
    )


_TARGET_FIELDS = {
    *core.CLUSTER_SETTINGS_FIELDS,
    "accountId",
    "roleArn",
    "externalId",
    "kmsKeyArn",
    "clusterIdentifier",
    "deletionProtection",
    "tags",
    "onExisting",
    "finalSnapshot",
    "region",
    "settings",
}


def _parse_targets(raw: Any, problems: core.Problems) -> list[tuple[int, Target]] | None:
    """Each valid target with its index in the input, so later checks name the right entry."""
    if not isinstance(raw, list) or not raw:
        problems.add("targets", f"required list of 1 to {MAX_TARGETS} target accounts")
        return None
    if len(raw) > MAX_TARGETS:
        problems.add(
            "targets",
            f"at most {MAX_TARGETS} targets (a manual snapshot is shared with at most 20 accounts), "
            f"got {len(raw)}",
        )
        return None
    targets: list[tuple[int, Target]] = []
    for index, item in enumerate(raw):
        target = _parse_target(item, f"targets[{index}]", problems)
        if target is not None:
            targets.append((index, target))
    seen: dict[str, int] = {}
    for index, target in targets:
        if target.account_id in seen:
            problems.add(
                f"targets[{index}].accountId",
                f"account {target.account_id} is already targets[{seen[target.account_id]}]; "
                "give one entry per account",
            )
        seen.setdefault(target.account_id, index)
    return targets


def _parse_target(value: Any, path: str, problems: core.Problems) -> Target | None:
    item = core.valid_object(value, path, _TARGET_FIELDS, problems)
    if item is None:
        return None
    account = core.valid_account_id(item.get("accountId"), f"{path}.accountId", problems)
    role = core.valid_role_arn(item.get("roleArn"), f"{path}.roleArn", account, problems)
    key = core.valid_kms_key_arn(item.get("kmsKeyArn"), f"{path}.kmsKeyArn", problems)
    # A key of another account is only reported: the target stays, so its checks against the source still run.
    core.check_own_key(key, f"{path}.kmsKeyArn", account, problems)
    cluster = core.valid_cluster_id(item.get("clusterIdentifier"), f"{path}.clusterIdentifier", problems)
    settings = core.valid_cluster_settings(item, path, problems)
    deletion_protection = core.valid_bool(
        item.get("deletionProtection", True), f"{path}.deletionProtection", True, problems
    )
    tags = core.valid_tags(item.get("tags", {}), f"{path}.tags", problems)
    external_id = core.valid_optional_external_id(item.get("externalId"), f"{path}.externalId", problems)
    on_existing, final_snapshot = _parse_on_existing(item, path, problems)
    region = core.valid_region(item["region"], f"{path}.region", problems) if "region" in item else None
    carried = (
        core.valid_carried_settings(item["settings"], f"{path}.settings", problems)
        if "settings" in item
        else None
    )
    if not (account and role and key and cluster and settings):
        return None
    return Target(
        settings=carried,
        region=region,
        on_existing=on_existing,
        final_snapshot=final_snapshot,
        account_id=account,
        role_arn=role,
        kms_key_arn=key,
        cluster_identifier=cluster,
        external_id=external_id,
        deletion_protection=deletion_protection,
        tags=tags,
        **settings,
    )


def _parse_on_existing(
    item: Mapping[str, Any], path: str, problems: core.Problems
) -> tuple[OnExisting, bool]:
    raw = item.get("onExisting", OnExisting.FAIL.value)
    allowed = ", ".join(repr(choice.value) for choice in OnExisting)
    try:
        on_existing = OnExisting(raw)
    except ValueError:
        problems.add(f"{path}.onExisting", f"must be one of {allowed}, got {raw!r}")
        on_existing = OnExisting.FAIL
    final_snapshot = core.valid_bool(item.get("finalSnapshot", True), f"{path}.finalSnapshot", True, problems)
    # The normalised input carries the default (true) for every target; only asking for no final snapshot
    # makes sense with a replacement.
    if item.get("finalSnapshot") is False and on_existing is not OnExisting.REPLACE:
        problems.add(
            f"{path}.finalSnapshot", "only with onExisting 'replace' (the old cluster's final snapshot)"
        )
    return on_existing, final_snapshot


def _check_targets_against_source(
    source: Source, targets: list[tuple[int, Target]], problems: core.Problems
) -> None:
    for index, target in targets:
        if target.account_id == source.account_id:
            problems.add(
                f"targets[{index}].accountId",
                "must differ from source.accountId: this tool copies across accounts "
                "(use a clone or restore in place for same-account copies)",
            )
        region = target.region or source.region
        match = core.KMS_KEY_ARN.fullmatch(target.kms_key_arn)
        if match and match["region"] != region:
            where = f"the target's region {region}" if target.region else f"the source region {source.region}"
            problems.add(
                f"targets[{index}].kmsKeyArn",
                f"must be in {where} (KMS keys are regional; the target's cluster is made there), "
                f"got {match['region']}",
            )
        if target.region and target.region != source.region:
            china = next(
                (r for r in (target.region, source.region) if not core.copies_across_regions(r)), None
            )
            if china is not None:
                problems.add(f"targets[{index}].region", core.NO_CROSS_REGION_COPY.format(region=china))
            elif core.partition_of(target.region) != core.partition_of(source.region):
                problems.add(
                    f"targets[{index}].region",
                    f"must be in the source's partition ({core.partition_of(source.region)}): snapshots are "
                    f"not copied between partitions, got {target.region}",
                )


def _parse_regional_share_keys(
    raw: Mapping[str, Any],
    source: Source | None,
    targets: list[tuple[int, Target]],
    options: Options,
    problems: core.Problems,
) -> dict[str, str] | None:
    """regionalShareKmsKeyArns: with options.crossRegionCopy "two-step", the source account's share key in every
    Region of a target other than the source's, and only there (README "Cross-Region targets")."""
    name = "regionalShareKmsKeyArns"
    two_step = options.cross_region_copy is CrossRegionCopy.TWO_STEP
    if name in raw and not two_step:
        problems.add(
            name, "only with options.crossRegionCopy 'two-step' (the keys its source-side copies use)"
        )
        return None
    given = raw.get(name, {})
    if not isinstance(given, Mapping):
        problems.add(name, 'must be an object: {"<region>": "<KMS key ARN of the source account there>"}')
        return None
    if source is None or not two_step:
        return None
    keys = {
        region: key
        for region, value in given.items()
        if (key := _regional_key(f"{name}.{region}", region, value, source, problems)) is not None
    }
    target_regions = {t.region for _, t in targets if t.region and t.region != source.region}
    for index, target in targets:
        if target.region in target_regions and target.region not in given:
            problems.add(
                f"targets[{index}].region",
                f"with options.crossRegionCopy 'two-step' needs {name}[{target.region!r}], the source "
                f"account's share key in {target.region} (member-accounts/source-region-key.yaml)",
            )
    for region in sorted(set(keys) - target_regions):
        problems.add(f"{name}.{region}", f"no target is in {region}; give keys only for the targets' Regions")
    return keys or None


def _regional_key(path: str, region: Any, value: Any, source: Source, problems: core.Problems) -> str | None:
    """One entry of regionalShareKmsKeyArns: a key of the source account in its Region, not the source's."""
    if core.valid_region(region, path, problems) is None:
        return None
    key = core.valid_kms_key_arn(value, path, problems)
    match = core.KMS_KEY_ARN.fullmatch(key or "")
    if key is None or match is None:
        return None
    if match["account"] != source.account_id:
        problems.add(path, f"must be a key of the source account {source.account_id}, got {match['account']}")
    elif match["region"] != region:
        problems.add(path, f"must be a key in {region} (KMS keys are regional), got {match['region']}")
    elif region == source.region:
        problems.add(path, "the source Region's share key is shareKmsKeyArn; give only other Regions here")
    else:
        return key
    return None


def _parse_options(value: Any, problems: core.Problems) -> Options:
    fields = {*core.POLL_FIELDS, "cleanup", "waitStrategy", "keepTargetCopies", "crossRegionCopy"}
    raw = core.valid_object(value, "options", fields, problems)
    if raw is None:
        return Options()
    interval, attempts = core.valid_poll_settings(
        raw, (Options.poll_interval_seconds, Options.max_poll_attempts), problems
    )
    cleanup = _choice(raw, "cleanup", CleanupPolicy.DELETE, problems)
    wait_strategy = _choice(raw, "waitStrategy", WaitStrategy.EVENTS, problems)
    return Options(
        poll_interval_seconds=interval,
        max_poll_attempts=attempts,
        cleanup=cleanup,
        wait_strategy=wait_strategy,
        keep_target_copies=_keep_target_copies(raw, cleanup, problems),
        cross_region_copy=_choice(raw, "crossRegionCopy", CrossRegionCopy.ONE_STEP, problems),
    )


# A Region holds 100 manual cluster snapshots by default ("Manual DB cluster snapshots"), so keeping more copies
# of one cluster than that is never meant: https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/CHAP_Limits.html
MAX_KEEP_TARGET_COPIES = 100


def _keep_target_copies(
    raw: Mapping[str, Any], cleanup: CleanupPolicy, problems: core.Problems
) -> int | None:
    """options.keepTargetCopies: how many copies per target cluster to keep, only where copies are kept."""
    if "keepTargetCopies" not in raw:
        return None
    path = "options.keepTargetCopies"
    count = core.valid_int(raw["keepTargetCopies"], path, 1, MAX_KEEP_TARGET_COPIES, problems)
    if cleanup is not CleanupPolicy.KEEP_TARGET_COPIES:
        # Under "delete" no copy is kept to count; under "keep" every intermediate is kept on purpose.
        problems.add(
            path,
            f"only with options.cleanup {CleanupPolicy.KEEP_TARGET_COPIES.value!r} (it limits the copies that "
            f"policy keeps), got options.cleanup {cleanup.value!r}",
        )
        return None
    return count


def _choice[E: StrEnum](raw: Mapping[str, Any], name: str, default: E, problems: core.Problems) -> E:
    """options.<name>, one of the values of the default's enum."""
    kind = type(default)
    given = raw.get(name, default.value)
    try:
        return kind(given)
    except ValueError:
        allowed = ", ".join(choice.value for choice in kind)
        problems.add(f"options.{name}", f"must be one of {allowed}, got {given!r}")
        return default


def _snapshot_ref(
    value: Any, path: str, account: str | None, region: str | None, problems: core.Problems
) -> str | None:
    text = core.valid_string(value, path, problems)
    if text is None:
        return None
    if text.startswith("arn:"):
        return _snapshot_arn(text, path, account, region, problems)
    if not core.SNAPSHOT_ID.fullmatch(text):
        problems.add(
            path,
            "must be a cluster snapshot identifier (letters, digits, hyphens; 'rds:' prefix for automated) "
            f"or ARN, got {text!r}",
        )
        return None
    return text


def _snapshot_arn(
    text: str, path: str, account: str | None, region: str | None, problems: core.Problems
) -> str | None:
    match = core.CLUSTER_SNAPSHOT_ARN.fullmatch(text)
    if not match:
        problems.add(path, f"must be a DB cluster snapshot ARN (…:cluster-snapshot:<id>), got {text!r}")
        return None
    if account and match["account"] != account:
        problems.add(
            path, f"must be a snapshot of the source account {account}, got account {match['account']}"
        )
        return None
    if region and match["region"] != region:
        problems.add(path, f"must be in the source region {region}, got {match['region']}")
        return None
    return text
