"""The execution input contract for an Aurora clone (statemachine/clone.asl.json), and its validation.

A clone input has a singular ``target`` where a migration input has ``targets``; that is how the CLI tells
them apart (``is_clone_input``). Like the migration's contract, the input is checked in full before any AWS
call, every problem is reported at once naming its field, and unknown fields are refused.

What this module cannot know offline (the source's encryption, its instances, its clone group, the target's
other clusters) is checked read-only by ``aurora_ferry.clone.inspect_clone`` before anything is changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from aurora_ferry import core

# RDS allows 50 tags per resource; a clone carries aurora-ferry:managed, :run-id, :purpose and, for a
# refresh, :refresh-of.
MAX_CLONE_USER_TAGS = 46
# A refresh names its clone "<refresh.replaces>-<8 hex characters>"; cluster ids are at most 63 characters.
REFRESH_SUFFIX_LENGTH = 9
MAX_REPLACES_LENGTH = 63 - REFRESH_SUFFIX_LENGTH

CLUSTER_ARN = re.compile(
    rf"^arn:{core.PARTITION}:rds:(?P<region>[a-z0-9-]+):(?P<account>\d{{12}}):cluster:(?P<id>[A-Za-z0-9-]{{1,63}})$",
    re.ASCII,
)


@dataclass(frozen=True, kw_only=True)
class CloneSource(core.AccountAccess):
    """The account the run reads from (the AccountAccess it extends) and the cluster it clones."""

    cluster_identifier: str  # an identifier, or a cluster ARN

    @property
    def cluster_owner(self) -> str:
        """The account that owns the source cluster: the ARN's account, else source.accountId."""
        match = CLUSTER_ARN.fullmatch(self.cluster_identifier)
        return match["account"] if match else self.account_id


@dataclass(frozen=True, kw_only=True)
class CloneTarget(core.ClusterTarget):
    """The account the clone is made in, and the clone: named, or derived from the run id for a refresh."""

    clone_identifier: str | None = None  # None with refresh: the clone id is derived from the run id
    kms_key_arn: str | None = None
    # Overrides of the settings the clone carries from the source (README "Input contract", target.settings).
    settings: core.CarriedSettings | None = None


@dataclass(frozen=True)
class Sharing:
    """How the owner shares the cluster with the target account through AWS RAM (cross-account only)."""

    allow_external_principals: bool = False


@dataclass(frozen=True)
class Refresh:
    """Replace the dev cluster named ``replaces`` (and earlier refreshes of it) with this run's clone."""

    replaces: str
    # The clone takes the replaced cluster's name (and endpoints) instead of keeping its own (README "Dev refresh").
    keep_name: bool = False


@dataclass(frozen=True)
class CloneOptions:
    poll_interval_seconds: int = 30
    max_poll_attempts: int = 720


@dataclass(frozen=True)
class CloneRequest:
    source: CloneSource
    target: CloneTarget
    sharing: Sharing = Sharing()
    refresh: Refresh | None = None
    options: CloneOptions = CloneOptions()

    @property
    def cross_account(self) -> bool:
        return self.target.account_id != self.source.account_id

    def to_json(self) -> dict[str, Any]:
        """The normalised contract, camelCase, defaults filled in (absent optional values left out)."""
        normalised: dict[str, Any] = core.camel_json(asdict(self))
        return normalised


def is_clone_input(raw: Any) -> bool:
    """A clone input names one ``target``; a migration input names ``targets``."""
    return isinstance(raw, Mapping) and "target" in raw and "targets" not in raw


_TOP_FIELDS = {"source", "target", "sharing", "refresh", "options"}
_SOURCE_FIELDS = {*core.SOURCE_ACCOUNT_FIELDS, "clusterIdentifier"}
_TARGET_FIELDS = {
    *core.CLUSTER_SETTINGS_FIELDS,
    "accountId",
    "region",
    "roleArn",
    "externalId",
    "cloneIdentifier",
    "kmsKeyArn",
    "deletionProtection",
    "tags",
    "settings",
}


def parse_clone_request(raw: Any) -> CloneRequest:
    """Validate a raw clone input; raise InvalidInputError naming every bad field."""
    problems = core.Problems()
    raw = core.input_object(raw, _TOP_FIELDS, problems)
    refresh = _parse_refresh(raw.get("refresh"), problems)
    source = _parse_source(raw.get("source"), problems)
    target = _parse_target(raw.get("target"), refresh, problems)
    sharing = _parse_sharing(raw.get("sharing", {}), problems)
    options = _parse_options(raw.get("options", {}), problems)
    if source is not None and target is not None:
        _check_target_against_source(source, target, raw.get("target", {}), problems)
    if source is not None and target is not None and refresh is not None:
        _check_refresh_against_source(source, target, refresh, problems)
    request = None
    if source is not None and target is not None:
        request = CloneRequest(
            source=source, target=target, sharing=sharing, refresh=refresh, options=options
        )
    # Last, as a whole: fields that each pass can still add up to more than a run's state can carry.
    core.check_input_size(raw, None if request is None else request.to_json(), problems)
    if problems.items or request is None:
        raise core.InvalidInputError(problems.items or ["input: incomplete"])
    return request


def _check_refresh_against_source(
    source: CloneSource, target: CloneTarget, refresh: Refresh, problems: core.Problems
) -> None:
    if target.account_id != source.account_id:
        return
    names = {source.cluster_identifier.lower(), source.cluster_identifier.rsplit(":", 1)[-1].lower()}
    if refresh.replaces.lower() in names:
        problems.add("refresh.replaces", "must not be the source cluster: a refresh deletes what it replaces")


def _parse_source(value: Any, problems: core.Problems) -> CloneSource | None:
    requirement = "required object with accountId, region, roleArn and clusterIdentifier"
    raw = core.valid_object(value, "source", _SOURCE_FIELDS, problems, requirement)
    if raw is None:
        return None
    account, region, role, external_id = core.valid_source_account(raw, problems)
    cluster = _cluster_ref(raw.get("clusterIdentifier"), region, problems)
    if account is None or region is None or role is None or cluster is None:
        return None
    return CloneSource(account, region, role, external_id, cluster_identifier=cluster)


def _cluster_ref(value: Any, region: str | None, problems: core.Problems) -> str | None:
    path = "source.clusterIdentifier"
    if isinstance(value, str) and value.startswith("arn:"):
        match = CLUSTER_ARN.fullmatch(value)
        if not match:
            problems.add(
                path, f"must be a cluster identifier or a DB cluster ARN (…:cluster:<id>), got {value!r}"
            )
            return None
        if region and match["region"] != region:
            problems.add(
                path,
                f"must be in source.region {region}: Aurora can't clone a cluster into another Region, "
                f"got a cluster in {match['region']}",
            )
            return None
        return value
    return core.valid_cluster_id(value, path, problems)


def _parse_target(value: Any, refresh: Refresh | None, problems: core.Problems) -> CloneTarget | None:
    requirement = "required object with accountId, roleArn, cloneIdentifier and instanceClass"
    raw = core.valid_object(value, "target", _TARGET_FIELDS, problems, requirement)
    if raw is None:
        return None
    account = core.valid_account_id(raw.get("accountId"), "target.accountId", problems)
    role = core.valid_role_arn(raw.get("roleArn"), "target.roleArn", account, problems)
    external_id = core.valid_optional_external_id(raw.get("externalId"), "target.externalId", problems)
    clone_id: str | None = None
    if refresh is not None:
        if raw.get("cloneIdentifier") is not None:
            problems.add(
                "target.cloneIdentifier",
                "leave it out with refresh: each refresh names its clone <refresh.replaces>-<8 hex characters "
                "derived from the run id>",
            )
    else:
        clone_id = core.valid_cluster_id(raw.get("cloneIdentifier"), "target.cloneIdentifier", problems)
    key = _target_key(raw.get("kmsKeyArn"), account, problems)
    settings = core.valid_cluster_settings(raw, "target", problems)
    deletion_protection = _deletion_protection(raw, refresh, problems)
    tags = _clone_tags(raw.get("tags", {}), problems)
    carried = (
        core.valid_carried_settings(raw["settings"], "target.settings", problems)
        if "settings" in raw
        else None
    )
    if account is None or role is None or settings is None or (refresh is None and clone_id is None):
        return None
    return CloneTarget(
        account_id=account,
        role_arn=role,
        clone_identifier=clone_id,
        kms_key_arn=key,
        external_id=external_id,
        deletion_protection=deletion_protection,
        tags=tags,
        settings=carried,
        **settings,
    )


def _target_key(value: Any, account: str | None, problems: core.Problems) -> str | None:
    """target.kmsKeyArn, optional: a key of the target's own account."""
    if value is None:
        return None
    key = core.valid_kms_key_arn(value, "target.kmsKeyArn", problems)
    return key if core.check_own_key(key, "target.kmsKeyArn", account, problems) else None


def _deletion_protection(raw: Mapping[str, Any], refresh: Refresh | None, problems: core.Problems) -> bool:
    # A refreshed dev clone is deleted by the next refresh, so it can't have deletion protection.
    default = refresh is None
    protected = core.valid_bool(
        raw.get("deletionProtection", default), "target.deletionProtection", default, problems
    )
    if protected and refresh is not None:
        problems.add(
            "target.deletionProtection",
            "must be false with refresh: the next refresh deletes this clone (default false with refresh)",
        )
    return protected


def _clone_tags(value: Any, problems: core.Problems) -> dict[str, str]:
    if isinstance(value, Mapping) and len(value) > MAX_CLONE_USER_TAGS:
        problems.add(
            "target.tags", f"at most {MAX_CLONE_USER_TAGS} tags (RDS allows 50; aurora-ferry adds 4)"
        )
        value = {}
    return core.valid_tags(value, "target.tags", problems)


def _check_target_against_source(
    source: CloneSource, target: CloneTarget, raw_target: Any, problems: core.Problems
) -> None:
    # "You can't create a clone in a different AWS Region from the source Aurora DB cluster."
    # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.html#Aurora.Managing.Clone.Limitations
    region = raw_target.get("region") if isinstance(raw_target, Mapping) else None
    if region is not None and region != source.region:
        problems.add(
            "target.region",
            f"must be source.region {source.region}: Aurora can't clone a cluster into another Region "
            f"(copy a snapshot across Regions instead), got {region!r}",
        )
    if target.kms_key_arn:
        match = core.KMS_KEY_ARN.fullmatch(target.kms_key_arn)
        if match and match["region"] != source.region:
            problems.add(
                "target.kmsKeyArn",
                f"must be in source.region {source.region} (the clone stays in the source's Region and KMS "
                f"keys are regional), got {match['region']}",
            )


def _parse_sharing(value: Any, problems: core.Problems) -> Sharing:
    raw = core.valid_object(value, "sharing", {"allowExternalPrincipals"}, problems)
    if raw is None:
        return Sharing()
    allow = core.valid_bool(
        raw.get("allowExternalPrincipals", False), "sharing.allowExternalPrincipals", False, problems
    )
    return Sharing(allow_external_principals=allow)


def _parse_refresh(value: Any, problems: core.Problems) -> Refresh | None:
    if value is None:
        return None
    raw = core.valid_object(
        value, "refresh", {"replaces", "keepName"}, problems, "must be an object with replaces (and keepName)"
    )
    if raw is None:
        return None
    replaces = core.valid_cluster_id(raw.get("replaces"), "refresh.replaces", problems)
    if replaces is not None and len(replaces) > MAX_REPLACES_LENGTH:
        problems.add(
            "refresh.replaces",
            f"at most {MAX_REPLACES_LENGTH} characters: the clone is named <replaces>-<8 characters>, "
            f"and cluster ids are at most 63; got {len(replaces)}",
        )
        return None
    keep_name = core.valid_bool(raw.get("keepName", False), "refresh.keepName", False, problems)
    return None if replaces is None else Refresh(replaces=replaces, keep_name=keep_name)


def _parse_options(value: Any, problems: core.Problems) -> CloneOptions:
    raw = core.valid_object(value, "options", core.POLL_FIELDS, problems)
    if raw is None:
        return CloneOptions()
    interval, attempts = core.valid_poll_settings(
        raw, (CloneOptions.poll_interval_seconds, CloneOptions.max_poll_attempts), problems
    )
    return CloneOptions(poll_interval_seconds=interval, max_poll_attempts=attempts)
