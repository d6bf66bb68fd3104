"""The benchmark's lower bound for concurrent migrations (bench.bounds), checked by hand, and its world."""

from __future__ import annotations

import json

import pytest

from bench.bounds import closed_form, copy_ends, direct_restore_met, lower_bound
from ferry_cli.twin.snapshots import MAX_COPIES_IN_PROGRESS
from ferry_cli.twin.world import load_world
from tests.conftest import REPO

pytestmark = pytest.mark.unit

# The default world's durations: snapshot create, copy, restore, instance create.
S, C, R, INST = 600.0, 900.0, 1200.0, 600.0


def test_ten_copies_on_five_slots_run_in_two_batches() -> None:
    assert copy_ends([0.0] * 10, 900.0, 5) == [900.0] * 5 + [1800.0] * 5


def test_a_copy_waits_for_its_release_and_for_a_free_slot() -> None:
    # Released at 0, 0, 100 on two slots: the third starts when the first slot frees at 50.
    assert copy_ends([0.0, 0.0, 100.0], 50.0, 2) == [50.0, 50.0, 150.0]
    assert copy_ends([0.0, 0.0, 10.0], 50.0, 2) == [50.0, 50.0, 100.0]


def test_copies_are_scheduled_in_release_order_whatever_order_they_are_given_in() -> None:
    assert copy_ends([30.0, 0.0, 10.0], 20.0, 1) == [20.0, 40.0, 60.0]


def test_no_slots_is_refused() -> None:
    with pytest.raises(ValueError, match="slots"):
        copy_ends([0.0], 1.0, 0)


def test_ten_runs_direct_restore_two_share_copy_batches() -> None:
    # 600 + 2 x 900 + 1200 + 600
    assert lower_bound(10, 5, S, C, R, INST, target_copies=False) == 4200.0


def test_ten_runs_with_a_target_copy_pipeline_one_more_batch_not_two() -> None:
    # Target copies of batch 1 run while the share copies of batch 2 do: 600 + 3 x 900 + 1200 + 600.
    assert lower_bound(10, 5, S, C, R, INST, target_copies=True) == 5100.0


def test_one_run_is_its_chain() -> None:
    assert lower_bound(1, 5, S, C, R, INST, target_copies=True) == S + 2 * C + R + INST
    assert lower_bound(1, 5, S, C, R, INST, target_copies=False) == S + C + R + INST


def test_five_runs_fit_one_batch_and_six_need_two() -> None:
    assert lower_bound(5, 5, S, C, R, INST, target_copies=False) == S + C + R + INST
    assert lower_bound(6, 5, S, C, R, INST, target_copies=False) == S + 2 * C + R + INST


@pytest.mark.parametrize("runs", [1, 4, 5, 6, 10, 11, 23])
@pytest.mark.parametrize("target_copies", [False, True])
def test_the_docstring_formula_is_the_schedule(runs: int, target_copies: bool) -> None:
    durations = (617.0, 7217.0, 1217.0, 617.0)
    assert lower_bound(runs, 5, *durations, target_copies=target_copies) == closed_form(
        runs, 5, *durations, target_copies=target_copies
    )


def test_direct_restore_must_save_at_least_one_copy() -> None:
    assert direct_restore_met(9600.0, 16800.0, 7200.0)  # exactly one copy sooner
    assert not direct_restore_met(9601.0, 16800.0, 7200.0)
    assert not direct_restore_met(16800.0, 16800.0, 7200.0)  # both paths copying: the target is missed


def test_the_ten_migrations_world_parses_with_ten_encrypted_sources_and_one_target() -> None:
    path = REPO / "worlds" / "ten-migrations.json"
    world = load_world(path)
    source = world.account("111111111111")
    assert len(source.clusters) == 10
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert all(c["encryption"].startswith("key:") for c in raw["accounts"][0]["clusters"])
    stacks = [a.member_stack.template for a in world.accounts if a.member_stack is not None]
    assert sorted(stacks) == ["source-account", "target-account"]
    # Ten runs need more than one batch of copies, or the benchmark measures no queue.
    assert len(source.clusters) > MAX_COPIES_IN_PROGRESS
