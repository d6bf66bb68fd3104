"""Aurora cluster and instance rules in the twin: creation and deletion take time (rule 1), encryption uses a
real key (rule 5), an existing identifier is refused (one being deleted included), only an available cluster
can be snapshotted, a cluster or instance being deleted refuses what AWS refuses then, and a rename behaves as
AWS documents it (below).

:class:`ClusterRules` is the cluster family of the one ``RDSBackend`` patch (ferry_cli.twin.rules);
:func:`check_snapshottable` is the cluster-state rule that CreateDBClusterSnapshot applies
(ferry_cli.twin.snapshots).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from typing import Any, ClassVar

from moto.rds.exceptions import (
    DBClusterToBeDeletedHasActiveMembers,
    InvalidDBClusterStateFault,
    InvalidParameterCombination,
    RDSClientError,
)

from ferry_cli.twin.cluster_settings import (
    MODIFY_SECONDS,
    aurora_settings,
    changes_settings,
    set_aurora_settings,
)
from ferry_cli.twin.kms import (
    CREATE_WITH_KEY_ACTIONS,
    MOTO_PLACEHOLDER_KEY,
    check_key_usable,
    default_rds_key_arn,
)
from ferry_cli.twin.lifecycle import RdsRulesBase

__all__ = ["ClusterRules", "check_snapshottable"]

_CREATING = threading.Lock()
# Renaming: "the old DNS name ... is immediately deleted ... The new DNS name ... becomes effective in about
# two minutes [a cluster; about 10 minutes, an instance]. The renamed [resource] isn't available until the new
# name becomes effective"; "You can't use an existing ... name when renaming"; tags remain.
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/multi-az-db-cluster-rename.html
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RenameInstance.html
# (The two-minute figure is the Multi-AZ DB cluster page's: the Aurora guide gives no duration for renaming an
# Aurora cluster, so the twin assumes the same.)
CLUSTER_RENAME_SECONDS = 120.0
INSTANCE_RENAME_SECONDS = 600.0
# ManageMasterUserPassword: the cluster is "modifying" ("The DB cluster is being modified because of a customer
# request to modify the DB cluster", accessing-monitoring.html#Aurora.Status) while RDS creates the secret and sets
# the new password; AWS gives no duration, so the twin assumes a minute.
MANAGE_MASTER_PASSWORD_SECONDS = 60.0


def _url_identifier(backend: Any) -> str:
    """The endpoint hash of an account's Region: in AWS every cluster endpoint of an account and Region shares
    it (<cluster id>.cluster-<hash>.<region>.rds.amazonaws.com), so a cluster renamed to an old cluster's name
    answers on the old endpoint; moto draws one per cluster."""
    digest = hashlib.sha256(f"{backend.account_id}:{backend.region_name}".encode()).hexdigest()
    return digest[:12]


def check_snapshottable(cluster_id: str, cluster: Any) -> None:
    """A stopped (or still busy) cluster is refused a manual snapshot: "The DB cluster must be in the available
    state". https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBClusterSnapshot.html
    """
    if cluster is not None and cluster._status != "available":
        raise InvalidDBClusterStateFault(
            f"Cannot create a snapshot of DB cluster {cluster_id}: it is {cluster._status}, not available."
        )


class ClusterRules(RdsRulesBase):
    """CreateDBCluster, CreateDBInstance, ModifyDBCluster, DeleteDBInstance and DeleteDBCluster; every other
    cluster or instance call sees statuses as of the twin's time."""

    replaces: ClassVar[tuple[str, ...]] = (
        "create_db_cluster",
        "create_db_instance",
        "modify_db_cluster",
        "modify_db_instance",
        "delete_db_instance",
        "delete_db_cluster",
    )
    advance_first: ClassVar[tuple[str, ...]] = (
        "describe_db_clusters",
        "describe_db_instances",
        "start_db_cluster",
        "stop_db_cluster",
    )

    def create_db_cluster(self, backend: Any, kwargs: dict[str, Any]) -> Any:
        """Rules 1 and 5 for CreateDBCluster (also reached through restores and clones).
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBCluster.html
        "If StorageEncrypted is enabled, and you do not specify a value for the KmsKeyId
        parameter, then Amazon RDS will use your default KMS key."
        """
        self.registry.advance()
        # AWS checks the name and creates the cluster as one step: two restores of one name at once must not
        # both pass the check (concurrent runs reach here in the same twin second).
        with _CREATING:
            return self._create_db_cluster(backend, dict(kwargs))

    def _create_db_cluster(self, backend: Any, kwargs: dict[str, Any]) -> Any:
        identifier = str(kwargs.get("db_cluster_identifier") or "")
        if identifier.lower() in backend.clusters or identifier in backend.clusters:
            # moto replaces the existing cluster; AWS refuses the name. Error code from the API reference
            # (CreateDBCluster, RestoreDBClusterFromSnapshot, RestoreDBClusterToPointInTime: "User already has
            # a DB cluster with the given identifier").
            raise RDSClientError("DBClusterAlreadyExistsFault", "DB Cluster already exists")
        encrypted = bool(kwargs.get("storage_encrypted"))
        kms_key_id = kwargs.get("kms_key_id")
        if kms_key_id == MOTO_PLACEHOLDER_KEY:
            kms_key_id = None
        if encrypted:
            if kms_key_id:
                kms_key_id = backend._validate_kms_key(kms_key_id)
            else:
                kms_key_id = default_rds_key_arn(backend.account_id, backend.region_name)
            check_key_usable(
                kms_key_id, backend.account_id, backend.region_name, "target", CREATE_WITH_KEY_ACTIONS
            )
            kwargs["kms_key_id"] = kms_key_id
        settings = aurora_settings(kwargs)
        cluster = self.original("create_db_cluster")(backend, kwargs)
        set_aurora_settings(cluster, settings)
        cluster.url_identifier = _url_identifier(backend)
        if not encrypted:
            # moto stores a placeholder key even for unencrypted clusters; AWS reports none.
            _clear_placeholder_key(backend, cluster)
        self.registry.track("cluster", cluster, "creating", self.durations.cluster_restore)
        return cluster

    def create_db_instance(self, backend: Any, db_kwargs: dict[str, Any]) -> Any:
        """Rule 1: a new instance is "creating" for ``durations.instance_create`` (and at least until its
        cluster is available).
        https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html#Overview.DBInstance.Status
        """
        self.registry.advance()
        cluster = backend.clusters.get(db_kwargs.get("db_cluster_identifier") or "")
        if self.registry.is_deleting(cluster):
            # CreateDBInstance's InvalidDBClusterStateFault: "The requested operation can't be performed while
            # the cluster is in this state." (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html)
            raise InvalidDBClusterStateFault(
                f"Cannot add DB instance {db_kwargs.get('db_instance_identifier')} to DB cluster "
                f"{cluster.db_cluster_identifier}: it is deleting."
            )
        database = self.original("create_db_instance")(backend, db_kwargs)
        self.registry.track("instance", database, "creating", self.durations.instance_create)
        return database

    def modify_db_cluster(self, backend: Any, kwargs: dict[str, Any]) -> Any:
        """Rule 1: moto marks a modified cluster available at once; a cluster still being created stays
        creating until the registry says otherwise.
        https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html#Aurora.Status
        """
        self.registry.advance()
        cluster = backend.clusters.get(kwargs.get("db_cluster_identifier") or "")
        if self.registry.is_deleting(cluster):
            # ModifyDBCluster's InvalidDBClusterStateFault: "The requested operation can't be performed while the
            # cluster is in this state." (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBCluster.html)
            raise InvalidDBClusterStateFault(
                f"Cannot modify DB cluster {cluster.db_cluster_identifier}: it is deleting."
            )
        new_id = kwargs.get("new_db_cluster_identifier")
        if new_id and cluster is not None:
            return self._rename_cluster(backend, cluster, str(new_id), kwargs)
        if kwargs.get("manage_master_user_password") is not None and cluster is not None:
            return self._manage_master_password(backend, cluster, kwargs)
        busy = cluster._status if cluster is not None and self.registry.is_tracked(cluster) else None
        modifying = busy is None and cluster is not None and changes_settings(cluster, kwargs)
        result = self.original("modify_db_cluster")(backend, kwargs)
        if busy is not None:
            cluster._status = busy
        elif modifying:
            # The cluster changes for a while (ferry_cli.twin.cluster_settings), where moto makes it available.
            self.registry.track("cluster", cluster, "modifying", MODIFY_SECONDS)
        return result

    def _rename_cluster(self, backend: Any, cluster: Any, new_id: str, kwargs: dict[str, Any]) -> Any:
        """ModifyDBCluster with NewDBClusterIdentifier: refused unless the cluster is available and the name is
        free; the old name is free at once, the cluster is "renaming" for CLUSTER_RENAME_SECONDS, and its
        instances stay its members (moto keeps them pointing at the old name)."""
        old_id = cluster.db_cluster_identifier
        if cluster._status != "available" or self.registry.is_tracked(cluster):
            raise InvalidDBClusterStateFault(f"DB cluster {old_id} is {cluster._status}, not available.")
        if new_id.lower() in backend.clusters:
            raise RDSClientError("DBClusterAlreadyExistsFault", "DB Cluster already exists")
        result = self.original("modify_db_cluster")(backend, kwargs)
        for database in backend.databases.values():
            if getattr(database, "db_cluster_identifier", None) == old_id:
                database.db_cluster_identifier = cluster.db_cluster_identifier
        self.registry.track("cluster", cluster, "renaming", CLUSTER_RENAME_SECONDS)
        return result

    def _manage_master_password(self, backend: Any, cluster: Any, kwargs: dict[str, Any]) -> Any:
        """ModifyDBCluster with ManageMasterUserPassword, as the API reference and the Aurora guide describe it
        where moto does not: turning it on refuses a MasterUserPassword in the same call
        (InvalidParameterCombination), and a MasterUserSecretKmsKeyId once a secret exists ("you can't change the
        KMS key"); the key must exist in the cluster's Region (KMSKeyNotAccessibleFault); RDS generates the
        password, stores it with the master user name in the secret (moto stores a fixed one) and sets it on the
        cluster, so the old password stops working; the cluster is "modifying" for MANAGE_MASTER_PASSWORD_SECONDS.
        moto creates the secret in the cluster's own account and Region, tagged and named rds!cluster-<uuid>.
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBCluster.html
        https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-secrets-manager.html
        """
        cluster_id = cluster.db_cluster_identifier
        if cluster._status != "available" or self.registry.is_tracked(cluster):
            raise InvalidDBClusterStateFault(f"DB cluster {cluster_id} is {cluster._status}, not available.")
        turning_on = bool(kwargs.get("manage_master_user_password"))
        key = kwargs.get("master_user_secret_kms_key_id")
        if turning_on and kwargs.get("master_user_password"):
            raise InvalidParameterCombination(
                "You can't specify MasterUserPassword when you turn on ManageMasterUserPassword."
            )
        if turning_on and getattr(cluster, "master_user_secret", None) is not None:
            if key:
                raise InvalidParameterCombination(
                    f"DB cluster {cluster_id} already manages its master user password in Secrets Manager; you "
                    "can't change the KMS key that is used to encrypt the secret."
                )
            # Already managed: nothing to do (moto would make a second secret).
            kwargs.pop("manage_master_user_password")
            return self.original("modify_db_cluster")(backend, kwargs)
        if turning_on and key:
            kwargs["master_user_secret_kms_key_id"] = backend._validate_kms_key(str(key))
        result = self.original("modify_db_cluster")(backend, kwargs)
        if turning_on:
            password = secrets.token_urlsafe(24)
            cluster.master_user_password = password
            value = json.dumps({"username": cluster.master_username, "password": password})
            backend.secretsmanager.put_secret_value(
                cluster.master_user_secret.secret_arn, value, None, None, ["AWSCURRENT"]
            )
        self.registry.track("cluster", cluster, "modifying", MANAGE_MASTER_PASSWORD_SECONDS)
        return result

    def modify_db_instance(self, backend: Any, db_instance_identifier: str, db_kwargs: dict[str, Any]) -> Any:
        """ModifyDBInstance: a rename (NewDBInstanceIdentifier) is refused unless the instance is available and
        the name is free ("DBInstanceAlreadyExists"); the instance is then "renaming" for
        INSTANCE_RENAME_SECONDS. Other modifications are moto's."""
        self.registry.advance()
        new_id = db_kwargs.get("new_db_instance_identifier")
        database = backend.databases.get(db_instance_identifier)
        if not new_id or database is None:
            return self.original("modify_db_instance")(backend, db_instance_identifier, db_kwargs)
        if database.status != "available" or self.registry.is_tracked(database):
            raise RDSClientError(
                "InvalidDBInstanceState",
                f"Instance {db_instance_identifier} is {database.status}, not available.",
            )
        if str(new_id) in backend.databases:
            raise RDSClientError("DBInstanceAlreadyExists", "DB instance already exists")
        result = self.original("modify_db_instance")(backend, db_instance_identifier, db_kwargs)
        self.registry.track("instance", database, "renaming", INSTANCE_RENAME_SECONDS)
        return result

    def delete_db_instance(self, backend: Any, db_instance_identifier: str, **kwargs: Any) -> Any:
        """Rule 1: DeleteDBInstance returns at once with the instance "deleting"; it stays so for
        ``durations.instance_delete``, then moto removes it (DescribeDBInstances answers DBInstanceNotFound).
        A second delete of an instance already deleting is refused with InvalidDBInstanceState ("The DB
        instance isn't in a valid state"; AWS's message: "Instance ... is already being deleted").
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html
        ("This operation can't be canceled or reverted after it begins. To monitor the status of this
        operation, use DescribeDBInstance.")
        """
        self.registry.advance()
        database = backend.databases.get(db_instance_identifier)
        if database is None:
            # moto's own answer: a malformed identifier, or DBInstanceNotFound.
            return self.original("delete_db_instance")(backend, db_instance_identifier, **kwargs)
        if self.registry.is_deleting(database):
            raise RDSClientError(
                "InvalidDBInstanceState", f"Instance {db_instance_identifier} is already being deleted."
            )
        # What moto checks and does when it deletes, done now, when AWS answers the call; moto's removal runs
        # once the deletion is over.
        if database.deletion_protection:
            raise InvalidParameterCombination(
                "Cannot delete protected DB Instance, please disable deletion protection and try again."
            )
        final_snapshot = kwargs.pop("final_db_snapshot_identifier", None)
        if final_snapshot and not kwargs.get("skip_final_snapshot"):
            backend.create_db_snapshot(db_instance_identifier, final_snapshot, snapshot_type="manual")
        original = self.original("delete_db_instance")

        def remove() -> None:
            original(backend, db_instance_identifier, **kwargs)

        self.registry.track_deletion("instance", database, self.durations.instance_delete, remove)
        return database

    def delete_db_cluster(
        self, backend: Any, cluster_identifier: str, snapshot_name: str | None = None
    ) -> Any:
        """Rule 1: DeleteDBCluster returns at once with the cluster "deleting"; it stays so for
        ``durations.cluster_delete`` (and until the instances deleted with it are gone), then moto removes it
        (DescribeDBClusters answers DBClusterNotFoundFault). Refused with InvalidDBClusterStateFault ("The
        requested operation can't be performed while the cluster is in this state"): a cluster that still has
        an instance not being deleted ("Cluster cannot be deleted, it still contains DB instances in
        non-deleting state", AWS's message, which moto also uses), and one already deleting.
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBCluster.html
        https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_DeleteCluster.html (delete the
        instances, then the cluster)
        """
        self.registry.advance()
        cluster = backend.clusters.get(cluster_identifier)
        if cluster is None:
            return self.original("delete_db_cluster")(backend, cluster_identifier, snapshot_name)
        if self.registry.is_deleting(cluster):
            # The API reference's state fault; AWS's exact message for this case is not published.
            raise InvalidDBClusterStateFault(f"DB cluster {cluster_identifier} is already being deleted.")
        if cluster.deletion_protection:
            raise InvalidParameterCombination(
                "Cannot delete protected Cluster, please disable deletion protection and try again."
            )
        # moto refuses any member; AWS only members that are not being deleted themselves.
        if any(not self.registry.is_deleting(member) for member in cluster.members):
            raise DBClusterToBeDeletedHasActiveMembers()
        if snapshot_name:
            # The final snapshot, of the cluster as it is now (the twin's CreateDBClusterSnapshot rules apply).
            backend.create_db_cluster_snapshot(cluster_identifier, snapshot_name)
        original = self.original("delete_db_cluster")

        def remove() -> None:
            original(backend, cluster_identifier)

        self.registry.track_deletion("cluster", cluster, self.durations.cluster_delete, remove)
        return cluster


def _clear_placeholder_key(backend: Any, cluster: Any) -> None:
    if cluster.kms_key_id == MOTO_PLACEHOLDER_KEY:
        cluster.kms_key_id = None
    # The automated snapshot moto takes with the cluster copied the placeholder too.
    for snapshot in backend.cluster_snapshots.values():
        if snapshot.db_cluster_identifier == cluster.db_cluster_identifier:
            if snapshot.kms_key_id == MOTO_PLACEHOLDER_KEY:
                snapshot.kms_key_id = None
            if getattr(snapshot.cluster, "kms_key_id", None) == MOTO_PLACEHOLDER_KEY:
                snapshot.cluster.kms_key_id = None
