"""What the migration's and the clone's summaries share: reading a failure, the state machine's marks, and
the time between two of them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def explain(failure: dict[str, Any]) -> tuple[str, str]:
    """The error name and its message, from a Catch's {Error, Cause} (a Lambda error's Cause is JSON)."""
    error = str(failure.get("Error", "UnknownError"))
    raw_cause = failure.get("Cause", "")
    try:
        parsed = json.loads(raw_cause)
    except (TypeError, ValueError):
        return error, str(raw_cause)
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed.get("errorType", error)), str(parsed["errorMessage"])
    return error, str(raw_cause)


def mark_at(marks: dict[str, Any], name: str) -> str | None:
    """When the state machine recorded the mark ``name``, or None if it did not."""
    mark = marks.get(name)
    return mark.get("at") if isinstance(mark, dict) else None


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    delta = datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(
        start.replace("Z", "+00:00")
    )
    return round(delta.total_seconds(), 3)
