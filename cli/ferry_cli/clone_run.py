"""What `ferry` does differently for a clone input (statemachine/clone.asl.json) than for a migration.

A clone input has a singular ``target``; a migration input has ``targets`` (aurora_ferry.clone).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
