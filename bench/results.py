"""What every benchmark ends with: its targets as a table, and the table and raw figures in bench/results/."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def targets_table(checks: list[tuple[str, bool]]) -> tuple[list[str], bool]:
    """The "target | met" table, and whether every target was met."""
    lines = ["", "| target | met |", "|---|---|"]
    lines += [f"| {text} | {'yes' if ok else 'NO'} |" for text, ok in checks]
    return lines, all(ok for _, ok in checks)


def save(name: str, table: str, raw: dict[str, Any]) -> Path:
    """Write the table (markdown) and the raw figures (JSON) under a UTC time stamp; the table's path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    table_path = RESULTS / f"{name}-{stamp}.md"
    table_path.write_text(table, encoding="utf-8")
    (RESULTS / f"{name}-{stamp}.json").write_text(json.dumps(raw, indent=2, default=str), encoding="utf-8")
    return table_path.relative_to(REPO)
