"""`ferry leftovers` against AWS: it finds the function in the stack's outputs, invokes it with the operator's
credentials, prints the table and a last line, and its exit status says whether anything is shared."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from ferry_cli.cli import main
from ferry_cli.leftovers import Listing, print_listing
from tests.conftest import load_event

pytestmark = pytest.mark.unit

FUNCTION = "aurora-ferry-ListManagedResourcesFunction-AbC123"
SOURCE, TARGET = "111111111111", "222222222222"


def _row(identifier: str, kind: str = "snapshot", account: str = SOURCE, **extra: Any) -> dict[str, Any]:
    return {
        "accountId": account,
        "region": "eu-west-1",
        "kind": kind,
        "identifier": identifier,
        "arn": f"arn:aws:rds:eu-west-1:{account}:cluster-snapshot:{identifier}",
        "runId": "run-1",
        "purpose": "share-copy",
        "createdAt": "2026-11-30T10:00:00Z",
        "ageHours": 50.0,
        "status": "available",
        **extra,
    }


def _result(*rows: dict[str, Any], errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    accounts = sorted({r["accountId"] for r in rows})
    return {
        "resources": list(rows),
        "accounts": [
            {"accountId": a, "region": "eu-west-1", "roleArn": "r", "resources": 1} for a in accounts
        ],
        "errors": errors or [],
        "shared": sum(1 for r in rows if r.get("sharedWith")),
    }


class _Session:
    """boto3.Session as `ferry leftovers` uses it: a stubbed client per service."""

    def __init__(self) -> None:
        credentials = {"aws_access_key_id": "x", "aws_secret_access_key": "x", "region_name": "eu-west-1"}
        self.clients = {name: boto3.client(name, **credentials) for name in ("cloudformation", "lambda")}  # type: ignore[call-overload]
        self.stubs = {name: Stubber(client) for name, client in self.clients.items()}
        self.configs: dict[str, Any] = {}

    def client(self, name: str, **kwargs: Any) -> Any:
        self.configs[name] = kwargs.get("config")
        return self.clients[name]

    def stack(self, outputs: dict[str, str], stack: str = "aurora-ferry") -> None:
        self.stubs["cloudformation"].add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": stack,
                        "CreationTime": "2026-11-01T00:00:00Z",
                        "StackStatus": "UPDATE_COMPLETE",
                        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                    }
                ]
            },
            {"StackName": stack},
        )

    def answer(self, event: dict[str, Any], payload: Any, function_error: str | None = None) -> None:
        data = json.dumps(payload).encode()
        response: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(data), len(data))}
        if function_error:
            response["FunctionError"] = function_error
        self.stubs["lambda"].add_response(
            "invoke",
            response,
            {
                "FunctionName": FUNCTION,
                "InvocationType": "RequestResponse",
                "Payload": json.dumps(event).encode(),
            },
        )


@pytest.fixture
def session() -> Iterator[_Session]:
    fake = _Session()
    with (
        fake.stubs["cloudformation"],
        fake.stubs["lambda"],
        mock.patch("ferry_cli.leftovers.aws_session", return_value=fake),
    ):
        yield fake
    for stub in fake.stubs.values():
        stub.assert_no_pending_responses()


def test_a_shared_snapshot_is_highlighted_named_last_and_exits_1(
    session: _Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a stack whose listing function answers one shared snapshot, one public one and a cluster
    cmk = load_event("migrate-cmk.json")
    (tmp_path / "run.json").write_text(json.dumps(cmk), encoding="utf-8")
    session.stack({"ListManagedResourcesFunctionName": FUNCTION, "MigrationStateMachineArn": "arn:x"})
    result = _result(
        _row("ferry-run-1-share", sharedWith=[TARGET]),
        _row("ferry-run-1-snap", sharedWith=["all", TARGET]),
        _row("orders-dev", "cluster", TARGET, purpose="target-cluster"),
    )
    session.answer({"sinceDays": 3, "inputs": [cmk]}, result)

    # When `ferry leftovers --since 3 --input run.json` runs
    status = main(["leftovers", "--since", "3", "--input", str(tmp_path / "run.json")])
    lines = capsys.readouterr().out.splitlines()

    # Then it invoked the stack's function with the days and the input (the stubs check the request), printed
    # one row per resource with the sharing marked, a public one most loudly, and named both on the last line
    assert status == 1
    assert lines[0].split() == [
        "ACCOUNT",
        "REGION",
        "KIND",
        "IDENTIFIER",
        "RUN",
        "PURPOSE",
        "AGE",
        "STATUS",
        "SHARED",
        "WITH",
    ]
    assert lines[1].endswith(f"! {TARGET}") and "2.1d" in lines[1]
    assert lines[2].endswith(f"!! ALL (public),{TARGET}")
    assert lines[3].split()[2:6] == ["cluster", "orders-dev", "run-1", "target-cluster"]
    assert lines[-1] == (
        f"2 snapshots still shared: ferry-run-1-share [{SOURCE}] with {TARGET}; "
        f"ferry-run-1-snap [{SOURCE}] with ALL (public), {TARGET}"
    )
    # And the synchronous invocation may last as long as the function does
    assert session.configs["lambda"].read_timeout >= 300


def test_nothing_shared_exits_0_and_json_is_the_functions_result(
    session: _Session, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a listing with nothing shared, asked for twice (as a table and as JSON) of another stack
    result = _result(_row("ferry-run-1-copy", account=TARGET, sharedWith=[]))
    for _ in range(2):
        session.stack({"ListManagedResourcesFunctionName": FUNCTION}, stack="ferry-prod")
        session.answer({}, result)
    # When it runs
    table_status = main(["leftovers", "--stack", "ferry-prod"])
    table = capsys.readouterr().out
    json_status = main(["leftovers", "--stack", "ferry-prod", "--json"])
    printed = json.loads(capsys.readouterr().out)
    # Then both exit 0, the table ends with "nothing shared", and the JSON is the function's answer
    assert (table_status, json_status) == (0, 0)
    assert table.splitlines()[-1] == "nothing shared (1 managed resource(s) in 1 account(s))"
    assert table.splitlines()[1].endswith("-")
    assert printed == result


def test_what_keeps_the_listing_from_answering_exits_2(
    session: _Session, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a stack without the function's output, then one whose function fails, then one that answers with an
    # account it could not read
    session.stack({"MigrationStateMachineArn": "arn:x"})
    session.stack({"ListManagedResourcesFunctionName": FUNCTION})
    session.answer({}, {"errorType": "ConfigurationError", "errorMessage": "no table"}, "Unhandled")
    session.stack({"ListManagedResourcesFunctionName": FUNCTION})
    unreadable = {
        "accountId": TARGET,
        "region": "eu-west-1",
        "roleArn": f"arn:aws:iam::{TARGET}:role/aurora-ferry-target",
        "action": "assume the member role",
        "code": "AccessDenied",
        "message": "not authorized to perform: sts:AssumeRole",
    }
    session.answer({}, _result(errors=[unreadable]))

    # When `ferry leftovers` runs against each
    statuses = [main(["leftovers"]) for _ in range(3)]
    captured = capsys.readouterr()

    # Then each exits 2, saying why: the missing output, the function's error, the account it could not read
    assert statuses == [2, 2, 2]
    assert "stack aurora-ferry has no output ListManagedResourcesFunctionName" in captured.err
    assert f"{FUNCTION} failed: ConfigurationError: no table" in captured.err
    assert f"could not assume the member role in {TARGET} eu-west-1" in captured.out
    assert captured.out.splitlines()[-1].startswith(
        "nothing shared in what could be read, but 1 read(s) failed"
    )


def test_usage_errors_exit_2_before_any_aws_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an input file the contract refuses, a missing one, and days out of range
    bad = load_event("migrate-cmk.json")
    bad["targets"][0]["clusterIdentifier"] = "9-bad"
    (tmp_path / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    with mock.patch("ferry_cli.leftovers.aws_session", side_effect=AssertionError("no AWS call expected")):
        # When `ferry leftovers` is given each
        refused = main(["leftovers", "--input", str(tmp_path / "bad.json")])
        missing = main(["leftovers", "--input", str(tmp_path / "missing.json")])
        with pytest.raises(SystemExit) as too_many_days:
            main(["leftovers", "--since", "91"])
    err = capsys.readouterr().err
    # Then each exits 2 naming the problem
    assert (refused, missing, too_many_days.value.code) == (2, 2, 2)
    assert "targets[0].clusterIdentifier" in err
    assert "missing.json not found" in err
    assert "from 1 to 90 days, got 91" in err


def test_a_terminal_sees_shared_rows_in_red() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    # Given a terminal, when a listing with one shared and one unshared snapshot is printed
    out = Terminal()
    print_listing(
        out, io.StringIO(), Listing(_result(_row("a", sharedWith=[TARGET]), _row("b", sharedWith=[])))
    )
    lines = out.getvalue().splitlines()
    # Then only the shared row is highlighted
    assert lines[1].startswith("\x1b[1;31m") and lines[1].endswith("\x1b[0m")
    assert "\x1b" not in lines[2]
