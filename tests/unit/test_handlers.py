"""The Lambda entry points under functions/: they load, parse their event, and fail with named errors."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.client import BaseClient

from aurora_ferry.core import InvalidInputError, PayloadError, naming
from aurora_ferry.core.naming import run_id_from_execution_name
from aurora_ferry.migration import parse_migration_request

pytestmark = [
    pytest.mark.unit,
    # Powertools warns when a handler publishes no metric; validation-only handlers never do.
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]

REPO = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO / "events"
FUNCTIONS_DIR = REPO / "functions"
LAYER_DIR = REPO / "layers" / "shared" / "aurora_ferry"
STEPS = sorted(path.parent.name for path in FUNCTIONS_DIR.glob("*/app.py"))
REGION = "eu-west-1"
SOURCE = "111111111111"
SOURCE_ROLE = f"arn:aws:iam::{SOURCE}:role/aurora-ferry-source"


def read_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return data


def no_aws(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"unexpected AWS call: {args[1:]}")


def test_there_are_handlers_to_check() -> None:
    # Given the functions/ folder
    # When its handlers are listed
    # Then every workflow step has one (an empty glob would make the parametrized tests vacuous)
    assert set(STEPS) >= {
        "validate_input",
        "prepare_source",
        "prepare_share_copy",
        "share_snapshot",
        "copy_to_target",
        "restore_cluster",
        "create_instances",
        "poll_status",
        "cleanup",
        "summarize",
    }


@pytest.mark.parametrize("step", STEPS)
def test_each_handler_module_loads(handlers: dict[str, ModuleType], step: str) -> None:
    # Given the functions/<step>/app.py modules, loaded by file path
    # When one is looked up
    module = handlers[step]

    # Then it exposes a callable lambda_handler from its own file
    assert callable(module.lambda_handler)
    assert Path(module.__file__ or "").resolve() == (FUNCTIONS_DIR / step / "app.py").resolve()


def test_validate_input_returns_normalised_input_run_id_and_source_access(
    handlers: dict[str, ModuleType], lambda_context: Any
) -> None:
    # Given the CMK sample as execution input, under a named execution
    raw = read_event("migrate-cmk.json")
    event = {"input": raw, "executionName": "Nightly_Orders 2026-11-23"}

    # When the validate_input handler runs (with every AWS call made to fail)
    with mock.patch.object(BaseClient, "_make_api_call", autospec=True, side_effect=no_aws):
        result = handlers["validate_input"].lambda_handler(event, lambda_context)

    # Then it returns the normalised input, the run id and how to reach the source account
    assert set(result) == {"input", "runId", "sourceAccess"}
    assert result["input"] == parse_migration_request(raw).to_json()
    assert result["input"]["targets"][0]["instanceCount"] == 2
    # (the name had to be changed to be identifier-safe, so a hash of the original keeps it unique)
    assert result["runId"] == run_id_from_execution_name("Nightly_Orders 2026-11-23")
    assert result["runId"].startswith("nightly-orders-2026-11-23-")
    assert result["sourceAccess"] == {
        "accountId": SOURCE,
        "region": REGION,
        "roleArn": SOURCE_ROLE,
        "externalId": raw["source"]["externalId"],
    }
    json.dumps(result)  # the state machine carries it as JSON


def test_validate_input_falls_back_to_the_request_id_for_the_run_id(
    handlers: dict[str, ModuleType], lambda_context: Any
) -> None:
    # Given an event without an execution name
    event = {"input": read_event("migrate-two-targets.json")}

    # When the handler runs
    result = handlers["validate_input"].lambda_handler(event, lambda_context)

    # Then the run id comes from the Lambda request id, made identifier-safe
    assert result["runId"] == naming.run_id_from_execution_name(lambda_context.aws_request_id)
    assert result["runId"].startswith("r-")


@pytest.mark.parametrize(
    "bad_input",
    [
        None,
        [],
        "migrate orders",
        {**read_event("migrate-cmk.json"), "public": True},
        {**read_event("migrate-cmk.json"), "targets": []},
    ],
    ids=["missing", "list", "string", "unknown-field", "no-targets"],
)
def test_validate_input_raises_for_bad_input(
    handlers: dict[str, ModuleType], lambda_context: Any, bad_input: Any
) -> None:
    # Given an event whose input breaks the contract
    event = {"input": bad_input, "executionName": "bad-run"}

    # When the handler runs
    # Then it raises InvalidInputError (the name the ASL catches) instead of returning an error document
    with pytest.raises(InvalidInputError) as caught:
        handlers["validate_input"].lambda_handler(event, lambda_context)
    assert type(caught.value).__name__ == "InvalidInputError"
    assert caught.value.problems


def test_poll_status_rejects_an_unknown_kind(handlers: dict[str, ModuleType], lambda_context: Any) -> None:
    # Given a poll event for a kind of resource the workflow does not wait on
    event = {
        "kind": "database",
        "access": {"accountId": SOURCE, "region": REGION, "roleArn": SOURCE_ROLE},
        "identifier": "orders",
        "attempt": 0,
    }

    # When the poll_status handler runs (with every AWS call made to fail)
    with (
        mock.patch.object(BaseClient, "_make_api_call", autospec=True, side_effect=no_aws),
        pytest.raises(PayloadError) as caught,
    ):
        handlers["poll_status"].lambda_handler(event, lambda_context)

    # Then the problem names the field and the allowed kinds, before any AWS call, as a fault of the
    # workflow's payload, not of the user's input
    assert not isinstance(caught.value, InvalidInputError)
    assert caught.value.category == "payload"
    assert caught.value.problems == [
        "event.kind: must be one of snapshot, cluster, instances, got 'database'"
    ]


@pytest.mark.parametrize("missing", ["kind", "access", "identifier"])
def test_poll_status_names_a_missing_field(
    handlers: dict[str, ModuleType], lambda_context: Any, missing: str
) -> None:
    # Given a poll event missing one field
    event: dict[str, Any] = {
        "kind": "snapshot",
        "access": {"accountId": SOURCE, "region": REGION, "roleArn": SOURCE_ROLE},
        "identifier": "ferry-run-1-snap",
    }
    del event[missing]

    # When the handler runs
    with pytest.raises(PayloadError) as caught:
        handlers["poll_status"].lambda_handler(event, lambda_context)

    # Then the error names the missing field instead of failing with a KeyError
    assert caught.value.problems[0].startswith(f"event.{missing}: ")


def test_target_steps_reject_an_account_that_is_not_a_target(
    handlers: dict[str, ModuleType], lambda_context: Any
) -> None:
    # Given a create_instances event for an account the input does not target
    raw = parse_migration_request(read_event("migrate-cmk.json")).to_json()
    event = {"input": raw, "runId": "run-1", "accountId": "999999999999", "engine": "aurora-postgresql"}

    # When the handler runs
    with (
        mock.patch.object(BaseClient, "_make_api_call", autospec=True, side_effect=no_aws),
        pytest.raises(PayloadError) as caught,
    ):
        handlers["create_instances"].lambda_handler(event, lambda_context)

    # Then the error names the field
    assert caught.value.problems == ["event.accountId: 999999999999 is not one of the input's targets"]


def test_summarize_returns_error_and_cause_for_a_failed_run(
    handlers: dict[str, ModuleType], lambda_context: Any
) -> None:
    # Given the state of a failed run, as DescribeFailure passes it
    cause = {
        "errorMessage": "[account 111111111111 eu-west-1] source cluster orders not found",
        "errorType": "X",
    }
    event = {
        "outcome": "failed",
        "executionName": "run-1",
        "finishedAt": "2026-11-23T08:00:00Z",
        "state": {
            "runId": "run-1",
            "failure": {"Error": "SourceNotFoundError", "Cause": json.dumps(cause)},
            "cleanup": {"policy": "delete", "actions": []},
        },
    }

    # When the summarize handler runs
    result = handlers["summarize"].lambda_handler(event, lambda_context)

    # Then it returns exactly an error and a readable cause for the Fail state
    assert set(result) == {"error", "cause"}
    assert result["error"] == "X"
    assert result["cause"].startswith(cause["errorMessage"])
    assert "nothing to clean up" in result["cause"]


def test_summarize_without_state_still_describes_the_failure(
    handlers: dict[str, ModuleType], lambda_context: Any
) -> None:
    # Given a failed-outcome event with no state at all
    # When the summarize handler runs
    result = handlers["summarize"].lambda_handler({"outcome": "failed"}, lambda_context)

    # Then it still returns an error and a cause
    assert result == {"error": "UnknownError", "cause": ""}


def test_prepare_source_and_poll_handlers_work_against_moto(
    handlers: dict[str, ModuleType], lambda_context: Any, mocked_aws: None
) -> None:
    # Given an encrypted source cluster in the source account (reached, as in production, by a role)
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=SOURCE_ROLE, RoleSessionName="unit"
    )["Credentials"]
    source = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )
    key = source.client("kms").create_key()["KeyMetadata"]["Arn"]
    source.client("rds").create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-postgresql",
        MasterUsername="ferryadmin",
        MasterUserPassword="not-a-real-password-1",
        StorageEncrypted=True,
        KmsKeyId=key,
    )
    validated = handlers["validate_input"].lambda_handler(
        {"input": read_event("migrate-cmk.json"), "executionName": "handler-run"}, lambda_context
    )

    # When the prepare_source handler runs on the validated state, then poll_status on its snapshot
    snapshot = handlers["prepare_source"].lambda_handler(validated, lambda_context)
    poll = handlers["poll_status"].lambda_handler(
        {
            "kind": "snapshot",
            "access": validated["sourceAccess"],
            "identifier": snapshot["identifier"],
            "attempt": 0,
        },
        lambda_context,
    )

    # Then the handlers return the run's snapshot as JSON, and it is ready
    assert snapshot["identifier"] == naming.source_snapshot_id("handler-run")
    assert snapshot["accountId"] == SOURCE
    assert snapshot["createdByRun"] is True
    assert snapshot["kmsKeyId"] == key
    assert poll["ready"] is True
    assert poll["attempt"] == 1


# ------------------------------------------------------------------------------------------ no moto


def moto_imports(path: Path) -> list[str]:
    """Every import of moto in a Python file, found from its syntax tree (a docstring that merely says
    "never imports moto" is not an import)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "moto"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "moto":
            found.append(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).split(".")[0] == "moto"
        ):
            found.append(str(node.args[0].value))
    return found


SHIPPED_SOURCES = sorted([*LAYER_DIR.rglob("*.py"), *FUNCTIONS_DIR.rglob("*.py")])


def test_there_is_shipped_source_to_scan() -> None:
    # Given the layer and function folders
    # When their Python files are listed
    # Then there are some (an empty list would make the scan vacuous)
    assert len(SHIPPED_SOURCES) >= 15


def test_no_shipped_module_imports_moto() -> None:
    # Given every Python file shipped to Lambda (the shared layer and each function)
    # When each is scanned for imports of moto
    offenders = {str(path.relative_to(REPO)): moto_imports(path) for path in SHIPPED_SOURCES}

    # Then none imports it: moto is a dev dependency and is not in the Lambda runtime
    assert {path: found for path, found in offenders.items() if found} == {}


def test_no_shipped_module_mentions_moto_outside_prose() -> None:
    # Given every Python file shipped to Lambda
    # When each is scanned as text, with docstrings and comments left out
    mentions = []
    for path in SHIPPED_SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if id(node) in docstrings:
                continue
            text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
            name = (
                node.id
                if isinstance(node, ast.Name)
                else node.attr
                if isinstance(node, ast.Attribute)
                else None
            )
            if (text and "moto" in text.lower()) or (name and "moto" in name.lower()):
                mentions.append(f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}")

    # Then "moto" appears in no code (strings, names), only in prose
    assert mentions == []


def test_the_moto_import_scan_finds_imports(tmp_path: Path) -> None:
    # Given files that import moto in each way the scan knows
    samples = {
        "plain.py": "import moto\n",
        "dotted.py": "import moto.rds.models as m\n",
        "from.py": "from moto import mock_aws\n",
        "dynamic.py": "import importlib\nimportlib.import_module('moto.core')\n",
        "innocent.py": '"""Never imports moto."""\nimport motor  # a different package\n',
    }
    for name, text in samples.items():
        (tmp_path / name).write_text(text, encoding="utf-8")

    # When they are scanned
    found = {name: bool(moto_imports(tmp_path / name)) for name in samples}

    # Then every real import is found, and prose or look-alike names are not
    assert found == {
        "plain.py": True,
        "dotted.py": True,
        "from.py": True,
        "dynamic.py": True,
        "innocent.py": False,
    }
