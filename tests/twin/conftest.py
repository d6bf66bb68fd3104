"""The twin tests' moto: every service, each account played through STS, and the twin's rules over it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.lifecycle import Durations, TwinRegistry
from ferry_cli.twin.rules import aws_rules
from tests.conftest import acting_as

REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[Any]:
    """moto for every service; returns client(service, account[, region]) acting as that account (the twin
    tests' Clients)."""
    with mock_aws():
        sessions: dict[str, Any] = {}

        def client(service: str, account: str, region: str = REGION) -> Any:
            if account not in sessions:
                sessions[account] = acting_as(account, REGION)
            return sessions[account].client(service, region_name=region)

        yield client


@pytest.fixture
def twin(aws: Any, clock: TwinClock) -> Iterator[TwinRegistry]:
    with aws_rules(clock, Durations()) as registry:
        yield registry
