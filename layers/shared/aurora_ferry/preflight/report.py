"""The preflight's answer: findings (error / warning / info, each saying what is wrong and how to fix it) and
the plan, every step of the run in order with its account, key, what it creates and what cleanup does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from aurora_ferry.core import JsonRecord, PreflightFailedError

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding(JsonRecord):
    """One result of one check; ``message`` says what is wrong and how to fix it."""

    severity: Severity
    check: str
    account_id: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"[account {self.account_id}] {self.check}: {self.message}"


@dataclass(frozen=True)
class PlanStep(JsonRecord):
    """One step of the run as it would happen: where, with which key, what it makes, what becomes of it."""

    step: str
    account_id: str
    action: str
    kms_key: str | None = None
    creates: str | None = None
    cleanup: str | None = None


@dataclass
class PreflightReport:
    run_id: str
    findings: list[Finding] = field(default_factory=list)
    plan: list[PlanStep] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise PreflightFailedError listing every error finding (nothing when ok)."""
        if not self.ok:
            raise PreflightFailedError([str(finding) for finding in self.errors])

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "runId": self.run_id,
            "counts": {
                severity: sum(1 for f in self.findings if f.severity == severity)
                for severity in ("error", "warning", "info")
            },
            "findings": [finding.to_json() for finding in self.findings],
            # What a run keeps of the report (the state machine selects it): the findings that are not info,
            # which its summary reports; the info findings and the plan are for `ferry plan` (a few kilobytes
            # per target, which 20 targets would carry through every state of the run).
            "warnings": [finding.to_json() for finding in self.findings if finding.severity != "info"],
            "plan": [step.to_json() for step in self.plan],
        }
