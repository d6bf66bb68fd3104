"""The one decorator every Lambda entry point wears: structured logs, traces and metrics, once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aurora_ferry.core.observability import logger, metrics, tracer

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def lambda_entry(handler: Handler) -> Handler:
    traced = tracer.capture_lambda_handler(handler, capture_response=False)
    measured = metrics.log_metrics(traced)
    wrapped: Handler = logger.inject_lambda_context(measured, log_event=False, clear_state=True)
    return wrapped
