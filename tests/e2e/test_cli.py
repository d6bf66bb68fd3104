"""The `ferry` command line: what the README's first command and `ferry plan` promise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferry_cli.cli import main

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_local_run_json_reports_status_output_resources_and_counts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the shipped default world and the CMK sample input
    # When `ferry local run --json` runs it
    status = main(["local", "run", "--json", "--input", str(REPO / "events/migrate-cmk.json")])
    report = json.loads(capsys.readouterr().out)
    # Then it exits 0 and reports the output, resources per account, transitions and invocations
    assert status == 0
    assert report["status"] == "SUCCEEDED"
    assert report["output"]["targets"][0]["clusterIdentifier"] == "orders-dev"
    assert set(report["resources"]["after"]) == {
        "111111111111",
        "222222222222",
        "333333333333",
        "444444444444",
    }
    assert report["stateTransitions"] > 0
    assert report["lambdaInvocations"]["total"] == sum(report["lambdaInvocations"]["byFunction"].values())
    # Copies have no RDS event: the one copy (the share copy, 930 twin seconds; the target restores straight from
    # the shared snapshot) is polled from its progress, six checks; nor do the restored cluster's modifications
    # (ConfigureCluster's and OwnCredentials'), three more: nine, the same on any machine
    assert report["lambdaInvocations"]["byFunction"]["PollStatusFunction"] == 9


def test_local_run_prints_the_failing_state_error_and_cause_and_exits_non_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an input whose target the share key does not trust
    # When it is run
    status = main(["local", "run", "--input", str(REPO / "events/migrate-failing-key-policy.json")])
    printed = capsys.readouterr().out
    # Then the exit status is non-zero and the failing state, error and cause are printed
    assert status == 1
    assert "FAILED in state Preflight" in printed
    assert "error: PreflightFailedError" in printed
    assert "444444444444" in printed


@pytest.mark.parametrize(
    ("event", "expected_status", "expected_text"),
    [
        ("migrate-cmk.json", 0, "preflight: OK"),
        ("migrate-failing-key-policy.json", 1, "share-key-policy [444444444444]"),
    ],
)
def test_local_plan_prints_the_plan_and_findings(
    event: str, expected_status: int, expected_text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a sample input, when `ferry local plan` runs it
    status = main(["local", "plan", "--input", str(REPO / "events" / event)])
    printed = capsys.readouterr().out
    # Then it prints the plan with accounts and keys and the findings, and exits 1 only on error findings
    assert status == expected_status
    assert "[111111111111] ShareSnapshot" in printed
    assert expected_text in printed


def test_validate_names_every_bad_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an input with two bad fields
    raw = json.loads((REPO / "events/migrate-cmk.json").read_text())
    raw["source"]["accountId"] = "1234"
    raw["targets"][0]["clusterIdentifier"] = "9-bad"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    # When `ferry validate` checks it
    status = main(["validate", "--input", str(path)])
    errors = capsys.readouterr().err
    # Then both fields are named and the exit status is 1
    assert status == 1
    assert "source.accountId" in errors
    assert "targets[0].clusterIdentifier" in errors


def test_local_plan_names_the_missing_action_and_the_statement_to_add(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a world whose dev member role was deployed from an older template, without two statements
    world = REPO / "worlds/dev-role-from-an-older-template.json"
    # When `ferry local plan` checks the CMK sample against it
    status = main(["local", "plan", "--world", str(world), "--input", str(REPO / "events/migrate-cmk.json")])
    out = capsys.readouterr().out
    # Then it fails before anything is created, naming each refused action and the statement that grants it
    assert status == 1
    assert (
        "may not perform rds:RestoreDBClusterFromSnapshot on arn:aws:rds:eu-west-1:222222222222:cluster:orders-dev"
        in out
    )
    assert "member-accounts/target-account.yaml: RestoreFromLocalCopies" in out
    assert "member-accounts/target-account.yaml: CreateRdsServiceLinkedRole" in out
    assert "preflight: FAILED (nothing was changed)" in out


def test_local_plan_of_a_source_at_its_snapshot_quota_fails(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a source account with 2 of 2 manual cluster snapshots used
    world = REPO / "worlds/source-at-snapshot-quota.json"
    # When `ferry local plan` checks a run that makes two snapshots there
    status = main(["local", "plan", "--world", str(world), "--input", str(REPO / "events/migrate-cmk.json")])
    out = capsys.readouterr().out
    # Then the quota answer of DescribeAccountAttributes stops it
    assert status == 1
    assert "has 2 manual cluster snapshots in eu-west-1 and may have 2 (quota ManualClusterSnapshots)" in out


@pytest.mark.parametrize(
    "command",
    [["validate"], ["plan"], ["local", "run"], ["local", "plan"]],
    ids=["validate", "plan", "local-run", "local-plan"],
)
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"source": "\xff\xfe"}', "is not UTF-8 text (byte 12: b'\\xff'); save it as UTF-8 JSON"),
        (b'{"source": ', "is not valid JSON"),
    ],
    ids=["not-utf8", "not-json"],
)
def test_an_unreadable_input_file_is_named_without_a_traceback(
    tmp_path: Path, command: list[str], content: bytes, expected: str
) -> None:
    # Given an input file that is not UTF-8, or not JSON
    path = tmp_path / "input.json"
    path.write_bytes(content)
    # When any command that reads an input is given it
    with pytest.raises(SystemExit) as exited:
        main([*command, "--input", str(path)])
    # Then it stops before any AWS call, naming the file and what is wrong with it
    assert str(exited.value).startswith(f"ferry: input file {path} {expected}")
