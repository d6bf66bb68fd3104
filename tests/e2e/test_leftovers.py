"""`ferry leftovers` in the twin: the deployed ListManagedResourcesFunction, under its own IAM, lists what the
runs left in the member accounts and whether anything is shared; without each of its grants it cannot."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from aurora_ferry.core import naming
from ferry_cli.cli import main
from ferry_cli.leftovers import FUNCTION_LOGICAL_ID, Listing, fetch_listing, listing_event, print_listing
from ferry_cli.template import load_cfn_yaml
from ferry_cli.twin.stacks import without_statements
from tests.conftest import REPO, load_event, running_twin
from tests.e2e.test_migrations import DEV, QA, SOURCE

pytestmark = pytest.mark.e2e


def _keeping(cleanup: str) -> dict[str, Any]:
    event = load_event("migrate-cmk.json")
    event["options"]["cleanup"] = cleanup
    return event


def _list(twin: Any, **event: Any) -> tuple[Listing, str]:
    """The deployed function invoked as `ferry leftovers` invokes it, and what it prints."""
    listing = fetch_listing(
        twin.client("lambda"), twin.function_arns[FUNCTION_LOGICAL_ID], listing_event(**event)
    )
    out, err = io.StringIO(), io.StringIO()
    print_listing(out, err, listing)
    return listing, out.getvalue() + err.getvalue()


def _rows(listing: Listing) -> dict[tuple[str, str, str], dict[str, Any]]:
    assert listing.result is not None, listing.problem
    return {(r["accountId"], r["kind"], r["identifier"]): r for r in listing.result["resources"]}


def test_a_run_that_keeps_its_snapshots_leaves_them_listed_unshared_until_someone_shares_one() -> None:
    with running_twin() as twin:
        # Given a migration whose cleanup unshares but keeps every snapshot (options.cleanup "keep")
        description = twin.wait(twin.start(_keeping("keep")), timeout_real_seconds=240)
        run = naming.run_id_from_execution_name(description["name"])
        # When the operator lists what is left
        listing, printed = _list(twin)
        # ... and then shares the kept target copy with the QA account by hand, and lists again
        twin.client("rds", DEV).modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier=naming.target_copy_id(run), AttributeName="restore", ValuesToAdd=[QA]
        )
        shared, printed_shared = _list(twin)

    # Then the run's snapshots, target cluster and instances are listed with its run id and purpose, nothing
    # the tool did not make (the source's clusters, their automated snapshots), and nothing is shared
    assert description["status"] == "SUCCEEDED", description.get("cause")
    rows = _rows(listing)
    assert set(rows) == {
        (SOURCE, "snapshot", naming.source_snapshot_id(run)),
        (SOURCE, "snapshot", naming.share_copy_id(run)),
        (DEV, "snapshot", naming.target_copy_id(run)),
        (DEV, "cluster", "orders-dev"),
        (DEV, "instance", "orders-dev-1"),
        (DEV, "instance", "orders-dev-2"),
    }
    assert {r["runId"] for r in rows.values()} == {run}
    assert rows[(SOURCE, "snapshot", naming.share_copy_id(run))]["purpose"] == "share-copy"
    assert all(r["sharedWith"] == [] for r in rows.values() if r["kind"] == "snapshot")
    assert listing.result is not None and listing.result["errors"] == [] and listing.result["shared"] == 0
    assert listing.exit_status == 0
    assert printed.splitlines()[-1] == "nothing shared (6 managed resource(s) in 2 account(s))"
    # And once a copy is shared, the listing exits 1 and its last line names the copy and the account
    assert shared.exit_status == 1
    assert _rows(shared)[(DEV, "snapshot", naming.target_copy_id(run))]["sharedWith"] == [QA]
    assert printed_shared.splitlines()[-1] == (
        f"1 snapshot still shared: {naming.target_copy_id(run)} [{DEV}] with {QA}"
    )
    assert f"! {QA}" in printed_shared


def test_ferry_local_run_leftovers_lists_what_the_run_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an input whose cleanup keeps the target's copy
    path = tmp_path / "keep-target-copies.json"
    path.write_text(json.dumps(_keeping("keep-target-copies")), encoding="utf-8")
    # When `ferry local run --leftovers --json` runs it
    status = main(["local", "run", "--leftovers", "--json", "--input", str(path)])
    report = json.loads(capsys.readouterr().out)
    # Then after the run the deployed function listed the copy the run kept, and nothing shared: exit 0
    assert status == 0 and report["status"] == "SUCCEEDED"
    leftovers = report["leftovers"]
    run = report["output"]["runId"]
    assert leftovers["shared"] == 0 and leftovers["errors"] == []
    snapshots = [(r["accountId"], r["identifier"]) for r in leftovers["resources"] if r["kind"] == "snapshot"]
    assert snapshots == [(DEV, naming.target_copy_id(run))]


def test_an_account_whose_role_refuses_is_named_and_the_others_are_still_listed() -> None:
    with running_twin() as twin:
        # Given a managed snapshot in the source, and an input whose target names the wrong external id
        twin.client("rds", SOURCE).create_db_cluster_snapshot(
            DBClusterIdentifier="orders",
            DBClusterSnapshotIdentifier="ferry-by-hand-snap",
            Tags=naming.tags_for("by-hand", "source-snapshot"),
        )
        event = load_event("migrate-cmk.json")
        event["targets"][0]["externalId"] = "not-the-agreed-id"
        # When the operator lists with that input
        listing, printed = _list(twin, inputs=[event])
    # Then the target is an error row naming the account, the action and AWS's code; the source is listed;
    # and the listing, being incomplete, does not say that nothing is shared
    assert listing.result is not None
    assert [(e["accountId"], e["action"], e["code"]) for e in listing.result["errors"]] == [
        (DEV, "assume the member role", "AccessDenied")
    ]
    assert "sts:AssumeRole" in listing.result["errors"][0]["message"]
    assert list(_rows(listing)) == [(SOURCE, "snapshot", "ferry-by-hand-snap")]
    assert listing.exit_status == 2
    assert f"could not assume the member role in {DEV} eu-west-1" in printed
    assert printed.splitlines()[-1].startswith("nothing shared in what could be read, but 1 read(s) failed")


def test_a_clone_runs_resource_share_is_listed_with_the_account_it_shares_with() -> None:
    clone = load_event("clone-cross-account.json")
    target = clone["target"]["accountId"]
    with running_twin(world="clones.json") as twin:
        # Given a clone run's RAM share of the source cluster with the target, still there
        tags = [{"key": t["Key"], "value": t["Value"]} for t in naming.tags_for("clone-run", "clone-share")]
        twin.client("ram", SOURCE).create_resource_share(
            name="aurora-ferry-clone-run",
            resourceArns=[f"arn:aws:rds:eu-west-1:{SOURCE}:cluster:orders"],
            principals=[target],
            allowExternalPrincipals=False,
            tags=tags,
        )
        # When the operator lists with the clone's input
        listing, printed = _list(twin, inputs=[clone])
    # Then the share is listed, as the run's, shared with the target: exit 1, named on the last line
    share = _rows(listing)[(SOURCE, "resource-share", "aurora-ferry-clone-run")]
    assert (share["runId"], share["purpose"], share["status"]) == ("clone-run", "clone-share", "ACTIVE")
    assert share["sharedWith"] == [target]
    assert listing.exit_status == 1
    assert (
        printed.splitlines()[-1]
        == f"1 resource share still shared: aurora-ferry-clone-run [{SOURCE}] with {target}"
    )


# --- the grants: each is what lets the function read ------------------------------------------------------

GRANTS = [
    # (where the grant is, the statement (or policy) taken out, the action the listing must name)
    ("template", "MemberAccessPolicy", "sts:AssumeRole"),
    ("template", "ListRecentRuns", "states:ListExecutions"),
    ("template", "ReadRecentRunInputs", "states:DescribeExecution"),
    ("template", "ReadLeftoverSnapshots", "dynamodb:Scan"),
    ("target-account", "ReadOwnSnapshotSharing", "rds:DescribeDBClusterSnapshotAttributes"),
]


def _without_grant(tmp_path: Path, where: str, grant: str) -> tuple[Path, Path]:
    """A copy of the repo's templates (the other folders linked) with one grant of the listing taken out: the
    template path and the member-accounts folder to deploy."""
    template = load_cfn_yaml(REPO / "template.yaml")
    members = tmp_path / "member-accounts"
    members.mkdir()
    if where == "template":
        policies = template["Resources"][FUNCTION_LOGICAL_ID]["Properties"]["Policies"]
        if grant == "MemberAccessPolicy":
            policies.remove({"Ref": "MemberAccessPolicy"})
        else:
            for policy in policies:
                if isinstance(policy, dict) and "Statement" in policy:
                    kept = [s for s in policy["Statement"] if s.get("Sid") != grant]
                    assert len(kept) == len(policy["Statement"]) - 1, grant
                    policy["Statement"] = kept
    for name in ("source-account", "target-account"):
        member = load_cfn_yaml(REPO / "member-accounts" / f"{name}.yaml")
        if name == where:
            member = without_statements(member, [grant])
        # JSON is YAML: the long-form intrinsics load back unchanged.
        (members / f"{name}.yaml").write_text(json.dumps(member), encoding="utf-8")
    (tmp_path / "template.yaml").write_text(json.dumps(template), encoding="utf-8")
    for folder in ("functions", "statemachine", "layers"):
        (tmp_path / folder).symlink_to(REPO / folder)
    return tmp_path / "template.yaml", members


@pytest.mark.parametrize(("where", "grant", "action"), GRANTS, ids=[g[1] for g in GRANTS])
def test_without_each_of_its_grants_the_listing_names_what_it_could_not_read(
    tmp_path: Path, where: str, grant: str, action: str
) -> None:
    from ferry_cli.twin.runtime import Twin
    from ferry_cli.twin.world import load_world

    # Given the shipped templates without one grant of the listing (template.yaml or a member template)
    template, members = _without_grant(tmp_path, where, grant)
    world = load_world(REPO / "worlds" / "two-accounts.json")
    with Twin.started(world, template, member_templates=members) as twin:
        # When a run keeps its target's copy, and the operator lists what is left
        description = twin.wait(twin.start(_keeping("keep-target-copies")), timeout_real_seconds=240)
        listing, printed = _list(twin)
    # Then the run itself succeeded, but the listing names the refused action with AWS's code, and exits 2
    # (incomplete) rather than saying nothing is shared; with the grant, the first test lists all of it
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert listing.result is not None, listing.problem
    refused = [e for e in listing.result["errors"] if f"perform: {action} " in e["message"]]
    assert refused, listing.result["errors"]
    assert {e["code"] for e in refused} <= {"AccessDenied", "AccessDeniedException"}
    assert listing.exit_status == 2
    assert "could not" in printed
