"""What `ferry` does differently for a clone input (statemachine/clone.asl.json) than for a migration.

A clone input has a singular ``target``; a migration input has ``targets`` (aurora_ferry.clone).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from aurora_ferry.clone import is_clone_input

REPO_ROOT = Path(__file__).resolve().parents[2]
# The clone samples (events/clone-*.json) name this world's accounts, keys and clusters.
CLONE_WORLD = REPO_ROOT / "worlds" / "clones.json"
CLONE_STATE_MACHINE = "CloneStateMachine"
MIGRATION_STATE_MACHINE = "MigrationStateMachine"


def machine_for(execution_input: Any) -> str:
    """The template's state machine that runs this input."""
    return CLONE_STATE_MACHINE if is_clone_input(execution_input) else MIGRATION_STATE_MACHINE


def world_for(execution_input: Any, given: Path | None, default: Path) -> Path:
    """The world to run in: the one given, else worlds/clones.json for a clone input, else the default."""
    if given is not None:
        return given
    return CLONE_WORLD if is_clone_input(execution_input) else default


def print_clone_outcome(out: TextIO, report: dict[str, Any], counts: str) -> None:
    """The human summary of a successful clone run (the failure summary is the migration's)."""
    output = report["output"]
    clone = output["clone"]
    kind = "cross-account clone" if output["crossAccount"] else "clone"
    out.write(f"\nSUCCEEDED: run {output['runId']} in {report['twinSeconds']:.0f} twin seconds ({counts})\n")
    out.write(f"  source {output['source']['accountId']}: {output['source']['clusterArn']} ")
    out.write(f"(encryption: {output['source']['encryption']})\n")
    out.write(f"  {kind} {clone['accountId']}: {clone['clusterArn']}\n")
    out.write(f"    CrossAccountClone: {clone['crossAccountClone']}, clone group {clone['cloneGroupId']}\n")
    out.write(f"    endpoint {clone['endpoint']}\n")
    for arn in clone["instanceArns"]:
        out.write(f"    instance {arn}\n")
    if output.get("share"):
        invitation = output["share"].get("invitationArn") or "none (same organization)"
        out.write(f"  shared through {output['share']['resourceShareArn']}; invitation: {invitation}\n")
    refresh = output.get("refresh")
    if refresh:
        retired = ", ".join(refresh["retiredClusterArns"]) or "nothing yet (first refresh)"
        out.write(f"  refresh of {refresh['replaces']}: retired {retired}\n")
    for timing in output["timings"]:
        out.write(f"  {timing['step']:<26} {timing['seconds']:>8.0f} s\n")
    for action in output["cleanup"].get("actions", []):
        out.write(f"  cleanup: {action['action']} {action['arn']}\n")
    if output["cleanup"].get("error"):
        out.write(f"  cleanup FAILED: {output['cleanup']['error']}\n")
