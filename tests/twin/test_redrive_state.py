"""Which state the twin's RedriveExecution restarts: the top-level state entered last and never left."""

from __future__ import annotations

import json

import pytest

from ferry_cli.twin.redrive import unsuccessful_state

pytestmark = pytest.mark.twin


def _entered(name: str, state_input: object) -> dict[str, object]:
    return {"stateEnteredEventDetails": {"name": name, "input": json.dumps(state_input)}}


def _exited(name: str) -> dict[str, object]:
    return {"stateExitedEventDetails": {"name": name, "output": "{}"}}


def test_the_state_entered_last_and_never_left_is_restarted_with_its_input() -> None:
    # Given a history: A ran, the Map entered, an iteration's state entered and left, then B entered and failed
    events = [
        _entered("A", {"a": 1}),
        _exited("A"),
        _entered("Map", {"m": 1}),
        _entered("Inner", {"i": 1}),
        _exited("Inner"),
        _exited("Map"),
        _entered("B", {"b": 2}),
    ]
    # Then B is restarted with the input it entered with; an iteration's state never counts
    assert unsuccessful_state(events, {"A", "Map", "B"}) == ("B", {"b": 2})
    # And a Map that was entered and never left (its history cut before MapStateExited) is the one to restart
    assert unsuccessful_state(events[:5], {"A", "Map", "B"}) == ("Map", {"m": 1})
    # And a history whose every state was left has nothing to redrive
    assert unsuccessful_state(events[:2], {"A"}) is None
