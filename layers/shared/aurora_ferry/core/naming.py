"""Deterministic names and tags for everything a run creates.

Names are derived from the run id alone, so cleanup after a failure can find what a run made without
the state that was lost with the failure; the run-id tag is then checked before anything is deleted,
so a snapshot that merely has a similar name is never touched.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

MANAGED_TAG = "aurora-ferry:managed"
RUN_ID_TAG = "aurora-ferry:run-id"
PURPOSE_TAG = "aurora-ferry:purpose"

MAX_RUN_ID = 40
# Every snapshot a run makes starts with this; the member templates' ManagedSnapshotPrefix defaults to it.
SNAPSHOT_PREFIX = "ferry-"


def run_id_from_execution_name(name: str) -> str:
    """An RDS-identifier-safe run id: lowercase letters, digits, single hyphens, starting with a letter.

    Names that are already safe and short (console UUIDs, most pipeline names) are kept as they are.
    Any name that had to be changed or shortened gets a hash of the original appended, so two distinct
    executions never share a run id, and so never share each other's snapshots or cleanup.
    """
    text = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", name.lower(), flags=re.ASCII)).strip("-")
    if not text or not text[0].isalpha():
        text = f"r-{text}" if text else "r"
    if text == name and len(text) <= MAX_RUN_ID:
        return text
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{text[: MAX_RUN_ID - len(digest) - 1].rstrip('-')}-{digest}"


def source_copy_id(run_id: str) -> str:
    """Manual copy of an automated or caller-owned snapshot, so the run only shares its own snapshot."""
    return f"{SNAPSHOT_PREFIX}{run_id}-source"


def source_snapshot_id(run_id: str) -> str:
    return f"{SNAPSHOT_PREFIX}{run_id}-snap"


def share_copy_id(run_id: str) -> str:
    return f"{SNAPSHOT_PREFIX}{run_id}-share"


def region_copy_id(run_id: str) -> str:
    """The source account's copy in a target's Region (options.crossRegionCopy "two-step"); one per Region, so
    the same name in each."""
    return f"{SNAPSHOT_PREFIX}{run_id}-region"


def target_copy_id(run_id: str) -> str:
    return f"{SNAPSHOT_PREFIX}{run_id}-copy"


def is_target_copy_id(identifier: str) -> bool:
    """Is ``identifier`` named like a run's target copy (``target_copy_id``)? A first sieve only: tags decide."""
    return identifier.startswith(SNAPSHOT_PREFIX) and identifier.endswith("-copy")


def final_snapshot_id(run_id: str) -> str:
    """The final snapshot of a replaced cluster (refresh in place, below), under the managed prefix like every
    snapshot a run makes, so the target role may take it."""
    return f"{SNAPSHOT_PREFIX}{run_id}-final"


# Refresh in place (README "Refresh in place"): the new cluster is restored under a temporary name, the old one
# is renamed aside (tagged with the run that did it and, per instance, the name it had) and then deleted.
REPLACED_BY_TAG = "aurora-ferry:replaced-by"
REPLACED_NAME_TAG = "aurora-ferry:replaced-name"


def replacement_cluster_id(run_id: str) -> str:
    """The new cluster's name until the swap (a run id is at most 40 characters: this stays under 63)."""
    return f"{SNAPSHOT_PREFIX}{run_id}-new"


def replaced_cluster_id(run_id: str) -> str:
    """The old cluster's name once renamed aside, until it is deleted."""
    return f"{SNAPSHOT_PREFIX}{run_id}-old"


def instance_id(cluster_identifier: str, index: int) -> str:
    suffix = f"-{index + 1}"
    return cluster_identifier[: 63 - len(suffix)].rstrip("-") + suffix


def tags_for(run_id: str, purpose: str, extra: dict[str, str] | None = None) -> list[dict[str, str]]:
    tags = dict(extra or {})
    tags.update({MANAGED_TAG: "true", RUN_ID_TAG: run_id, PURPOSE_TAG: purpose})
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tag_values(tag_list: list[dict[str, str]] | list[object]) -> dict[str, str]:
    """A TagList (RDS's [{"Key", "Value"}, ...]) as a dict of values by key."""
    return {t["Key"]: t["Value"] for t in tag_list if isinstance(t, dict)}


def tags_of(resource: Any) -> dict[str, str]:
    """The tags of a described RDS resource (its TagList; none when it has none)."""
    return tag_values(resource.get("TagList", []))


def is_tagged_by_run(tag_list: list[dict[str, str]] | list[object], run_id: str) -> bool:
    tags = tag_values(tag_list)
    return tags.get(MANAGED_TAG) == "true" and tags.get(RUN_ID_TAG) == run_id


# Retention (options.keepTargetCopies): a successful run tags the target copy it keeps with the cluster restored
# from it, and counts, per cluster, only the copies that carry all three tags below. A copy kept by a run that
# failed or parked never gets the tag, so retention can never take the copy a redrive still needs.
TARGET_CLUSTER_TAG = "aurora-ferry:target-cluster"
TARGET_COPY_PURPOSE = "target-copy"
# The source account's copy in a target's Region (region_copy_id).
REGION_COPY_PURPOSE = "region-copy"


def is_target_copy_of(tag_list: list[dict[str, str]] | list[object], cluster_identifier: str) -> bool:
    """Is this (a snapshot's tags) a managed target copy kept for the target cluster ``cluster_identifier``?"""
    tags = tag_values(tag_list)
    return (
        tags.get(MANAGED_TAG) == "true"
        and tags.get(PURPOSE_TAG) == TARGET_COPY_PURPOSE
        # RDS stores cluster identifiers in lower case and matches them without regard to case.
        and tags.get(TARGET_CLUSTER_TAG, "").lower() == cluster_identifier.lower()
    )
