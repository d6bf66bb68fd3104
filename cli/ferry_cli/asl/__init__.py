"""The state machines' single definition: Python that generates statemachine/*.asl.json.

The ASL files stay committed, plain JSON, so SAM deploys them, Workflow Studio opens them and reviewers read
them; but they are generated. Edit `migrate.py` or `clone.py` (written with `builder.py`), then run
`python -m ferry_cli.asl` to rewrite the files; `python -m ferry_cli.asl --check` and
tests/unit/test_asl_generated.py fail while a committed file differs from its definition.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ferry_cli.asl import clone, migrate
from ferry_cli.asl.builder import Flow, State, machine, params
from ferry_cli.template import SamTemplate

__all__ = ["DEFINITIONS", "Flow", "State", "generate", "machine", "params", "render"]

# Keyed by the template's logical ids, so the file each one goes to is the template's own DefinitionUri.
DEFINITIONS: dict[str, Callable[[], State]] = {
    "MigrationStateMachine": migrate.definition,
    "CloneStateMachine": clone.definition,
}


def render(definition: State) -> str:
    """The committed text of a definition (the format the hand-written files had)."""
    return json.dumps(definition, indent=2) + "\n"


def generate(template: SamTemplate) -> dict[Path, str]:
    """Each state machine's definition file and the text it must hold."""
    return {
        template.state_machines[machine_id].definition_file: render(build())
        for machine_id, build in DEFINITIONS.items()
    }
