"""Logger, Tracer and Metrics, defined once for every function so logs and traces line up."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "aurora-ferry"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="AuroraFerry", service=SERVICE)
