"""Shared fixtures for the unit suite: fake AWS credentials, moto, Lambda handlers and their context.

Nothing here is autouse: the fixtures only touch the tests that ask for them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO / "functions"
REGION = "eu-west-1"

HANDLER_DIRS = sorted(path.parent for path in FUNCTIONS_DIR.glob("*/app.py"))


def load_handler_module(step: str) -> ModuleType:
    """functions/<step>/app.py as a module of its own, loaded by path (never via sys.path)."""
    path = FUNCTIONS_DIR / step / "app.py"
    spec = importlib.util.spec_from_file_location(f"aurora_ferry_unit_handler_{step}", path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' Logger reads from a Lambda context."""

    function_name: str = "aurora-ferry-unit"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:aurora-ferry-unit"
    aws_request_id: str = "3f0b1c2d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(scope="session")
def handlers() -> dict[str, ModuleType]:
    """Every functions/<step>/app.py, loaded once for the session."""
    return {path.name: load_handler_module(path.name) for path in HANDLER_DIRS}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, and no way to reach a real profile or account."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "MOTO_ACCOUNT_ID",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


@pytest.fixture
def fresh_sessions() -> Iterator[None]:
    """aurora_ferry.core caches STS sessions per container; a cache from another mock would leak."""
    from aurora_ferry.core import forget_sessions

    forget_sessions()
    yield
    forget_sessions()


@pytest.fixture
def mocked_aws(aws_env: None, fresh_sessions: None) -> Iterator[None]:
    """moto for every service, with the domain's session cache and metrics reset around it."""
    from moto import mock_aws

    from aurora_ferry.core import metrics

    metrics.clear_metrics()
    with mock_aws():
        yield
    metrics.clear_metrics()


# The run-building world of the step tests, for the tests of what runs after a step (tests/unit/test_ended.py).
from tests.unit.test_steps import leftovers, world  # noqa: E402, F401
