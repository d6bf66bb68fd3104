"""Every AWS operation the runtime code calls is in the twin's IAM map, and the twin refuses what is not."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import botocore.session
import pytest

from ferry_cli.twin.iam.actions import OPERATIONS
from tests.conftest import REPO, load_event, running_twin

pytestmark = pytest.mark.twin

# The services the runtime code talks to; any other would show up as an unmapped call in the twin.
SERVICES = ("rds", "kms", "sts", "iam", "ec2", "ram", "dynamodb", "stepfunctions", "sns")
RUNTIME = [REPO / "layers" / "shared" / "aurora_ferry", REPO / "functions"]


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _operations_by_method() -> dict[str, list[tuple[str, str]]]:
    session = botocore.session.get_session()
    found: dict[str, list[tuple[str, str]]] = {}
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            found.setdefault(_snake(operation), []).append((service, operation))
    return found


def _called_methods(paths: list[Path]) -> set[str]:
    """Attribute calls and paginator names in the runtime code."""
    called: set[str] = set()
    for path in (p for folder in paths for p in folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                called.add(node.func.attr)
                if node.func.attr == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                    called.add(str(node.args[0].value))
    return called


def test_every_operation_the_runtime_calls_is_mapped() -> None:
    # Given every method name the runtime code calls that is an operation of a service it uses
    operations = _operations_by_method()
    called = {name: operations[name] for name in _called_methods(RUNTIME) if name in operations}
    assert "restore_db_cluster_to_point_in_time" in called, "the scan must see the runtime's calls"
    # Then each is covered by the map for at least one of the services that has it
    unmapped = sorted(
        name for name, candidates in called.items() if not any(c in OPERATIONS for c in candidates)
    )
    assert not unmapped, f"runtime calls operations the twin's IAM map lacks: {unmapped}"


def test_the_scan_would_catch_a_new_unmapped_call(tmp_path: Path) -> None:
    # Given runtime code with a call the map does not cover
    (tmp_path / "new_step.py").write_text("def step(client):\n    client.describe_events()\n")
    operations = _operations_by_method()
    # Then the same scan finds it
    called = {n for n in _called_methods([tmp_path]) if n in operations}
    assert called == {"describe_events"}
    assert not any(c in OPERATIONS for c in operations["describe_events"])


def test_the_twin_refuses_an_unmapped_call_from_a_handler() -> None:
    # Given a handler that makes a call the map does not cover
    def handler(event: object, context: object) -> dict[str, str]:
        from aurora_ferry.core import AccountAccess, rds

        access = AccountAccess(
            "111111111111",
            "eu-west-1",
            "arn:aws:iam::111111111111:role/aurora-ferry-source",
            "ferry-prod-7f3a",
        )
        rds(access).describe_events()
        return {}

    with running_twin(handler_overrides={"PreflightFunction": handler}) as twin:
        description = twin.wait(twin.start(load_event("migrate-cmk.json")), timeout_real_seconds=120)
    # Then the run fails with the twin's refusal naming the operation
    assert description["status"] == "FAILED"
    assert "TwinUnmappedOperation" in description.get("cause", "")
    assert "rds:DescribeEvents is not in ferry_cli/twin/iam/actions.py" in description.get("cause", "")
