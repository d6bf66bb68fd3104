"""The twin's state as a service sees it when it authorises a call: moto's backends, read directly."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.rds.models import rds_backends
from moto.sns.models import sns_backends
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from ferry_cli.twin.iam.actions import RDS_SERVICE, RDS_SLR_NAME, RDS_SLR_PATH, KeyFacts, ResourceFacts

_PARTITION = "aws"


def _split_arn(ref: str) -> tuple[str, str, str] | None:
    """(region, account, resource) of an ARN, None for anything else."""
    parts = ref.split(":", 5)
    if not ref.startswith("arn:") or len(parts) < 6:
        return None
    return parts[3], parts[4], parts[5]


def _tags(raw: Any) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in raw or []:
        key = tag.get("Key", tag.get("key"))
        if key is not None:
            tags[str(key)] = str(tag.get("Value", tag.get("value", "")))
    return tags


def policy_document(text: Any) -> dict[str, Any]:
    """A policy document from moto's storage (JSON text, sometimes already parsed); {} if unreadable."""
    if isinstance(text, Mapping):
        return dict(text)
    return _parsed(str(text))


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> dict[str, Any]:
    # Every request is judged against the caller's policies, and the same few texts come back thousands of
    # times a run; callers only read the document.
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


class MotoLookup:
    """Implements ferry_cli.twin.iam.actions.Lookup over moto's in-memory backends."""

    def __init__(self, clones: Any = None) -> None:
        # ferry_cli.twin.clones.CloneRegistry: the twin keeps RAM shares there, with their tags.
        self.clones = clones

    def _rds_resource(self, store_name: str, kind: str, ref: str, account_id: str, region: str) -> Any:
        split = _split_arn(ref)
        if split is not None:
            region, account_id, resource = split
            ref = resource.removeprefix(f"{kind}:")
        if not ref or account_id not in rds_backends:
            return None
        store: Any = getattr(rds_backends[account_id][region], store_name)
        return store.get(ref) or store.get(ref.lower())

    def _key_arn(self, key_ref: str | None, account_id: str, region: str) -> str | None:
        if not key_ref:
            return None
        key = self.key(key_ref, account_id, region)
        return key.arn if key is not None else key_ref

    def cluster_snapshot(self, ref: str, account_id: str, region: str) -> ResourceFacts | None:
        snapshot = self._rds_resource("cluster_snapshots", "cluster-snapshot", ref, account_id, region)
        if snapshot is None:
            return None
        encrypted = bool(
            getattr(snapshot, "storage_encrypted", False) or getattr(snapshot, "encrypted", False)
        )
        key = self._key_arn(snapshot.kms_key_id, snapshot.account_id, snapshot.region) if encrypted else None
        return ResourceFacts(
            str(snapshot.arn),
            str(snapshot.account_id),
            _tags(snapshot.tags),
            key,
            str(getattr(snapshot.cluster, "engine", "") or ""),
            str(getattr(snapshot.cluster, "engine_version", "") or ""),
        )

    def cluster(self, ref: str, account_id: str, region: str) -> ResourceFacts | None:
        cluster = self._rds_resource("clusters", "cluster", ref, account_id, region)
        if cluster is None:
            return None
        key = (
            self._key_arn(cluster.kms_key_id, cluster.account_id, cluster.region)
            if cluster.storage_encrypted
            else None
        )
        return ResourceFacts(
            str(cluster.arn),
            str(cluster.account_id),
            _tags(cluster.tags),
            key,
            str(cluster.engine or ""),
            str(cluster.engine_version or ""),
        )

    def instance(self, ref: str, account_id: str, region: str) -> ResourceFacts | None:
        database = self._rds_resource("databases", "db", ref, account_id, region)
        if database is None:
            return None
        return ResourceFacts(str(database.arn), str(database.account_id), _tags(database.tags))

    def parameter_group(self, kind: str, ref: str, account_id: str, region: str) -> ResourceFacts | None:
        """A DB cluster parameter group ("cluster-pg") or DB parameter group ("pg"), with its tags."""
        store = "db_cluster_parameter_groups" if kind == "cluster-pg" else "db_parameter_groups"
        group = self._rds_resource(store, kind, ref, account_id, region)
        if group is None:
            return None
        return ResourceFacts(str(group.arn), str(group.account_id), _tags(group.tags))

    def resource_share(self, arn: str) -> ResourceFacts | None:
        share = self.clones.share(arn) if self.clones is not None else None
        if share is None:
            return None
        return ResourceFacts(share.arn, share.owner, _tags(share.tags))

    def key(self, ref: str, account_id: str, region: str) -> KeyFacts | None:
        split = _split_arn(ref)
        if split is not None:
            region, account_id, resource = split
            ref = resource if resource.startswith("alias/") else resource.removeprefix("key/")
        if account_id not in kms_backends:
            return None
        backend = kms_backends[account_id][region]
        found = None
        if ref.startswith("alias/"):
            found = next((k for k in backend.keys.values() if ref in k.aliases), None)
        else:
            found = backend.keys.get(ref)
        if found is None:
            return None
        return KeyFacts(str(found.arn), account_id, policy_document(found.policy))

    def role(self, role_arn: str) -> Any:
        split = _split_arn(role_arn)
        if split is None or split[1] not in iam_backends:
            return None
        backend = iam_backends[split[1]][_PARTITION]
        return next((role for role in backend.get_roles() if role.arn == role_arn), None)

    def role_trust_policy(self, role_arn: str) -> Mapping[str, Any] | None:
        role = self.role(role_arn)
        return None if role is None else policy_document(role.assume_role_policy_document)

    def has_rds_service_linked_role(self, account_id: str) -> bool:
        backend = iam_backends[account_id][_PARTITION]
        return any(role.name == RDS_SLR_NAME for role in backend.get_roles())

    def state_machine_of_task_token(self, token: str) -> str | None:
        for regions in stepfunctions_parser_backends.values():
            for backend in regions.values():
                for machine in getattr(backend, "state_machines", []):
                    for execution in getattr(machine, "executions", []):
                        worker = getattr(execution, "exec_worker", None)
                        pool = getattr(getattr(worker, "env", None), "callback_pool_manager", None)
                        if pool is not None and pool.get(token) is not None:
                            return str(machine.arn)
        return None

    def topic_key(self, topic_arn: str) -> str | None:
        """The KmsMasterKeyId of an SNS topic (key id, ARN or alias), None when it is not encrypted."""
        split = _split_arn(topic_arn)
        if split is None or split[1] not in sns_backends:
            return None
        topic = sns_backends[split[1]][split[0]].topics.get(topic_arn)
        key = getattr(topic, "kms_master_key_id", None) if topic is not None else None
        return str(key) if key else None


def create_rds_service_linked_role(account_id: str) -> None:
    """AWSServiceRoleForRDS, as RDS creates it (moto's own service-linked roles get another name)."""
    backend = iam_backends[account_id][_PARTITION]
    if any(role.name == RDS_SLR_NAME for role in backend.get_roles()):
        return
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": RDS_SERVICE}, "Action": "sts:AssumeRole"}],
    }
    backend.create_role(
        role_name=RDS_SLR_NAME,
        assume_role_policy_document=json.dumps(trust),
        path=RDS_SLR_PATH,
        permissions_boundary=None,
        description="Allows Amazon RDS to manage AWS resources on your behalf",
        tags=[],
        max_session_duration="3600",
        linked_service=RDS_SERVICE,
    )
