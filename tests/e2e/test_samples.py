"""Every sample in events/ runs in the twin under its IAM, with the shipped templates at the documented
parameters: what a deployment that follows member-accounts/README.md can do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, load_event, running_twin

pytestmark = pytest.mark.e2e

# The one sample that rehearses a mistake: the share key does not trust the auditors account.
EXPECTED_TO_FAIL = {"migrate-failing-key-policy.json": "PreflightFailedError"}
SAMPLES = sorted(
    p.name for p in (REPO / "events").glob("*.json") if p.name.startswith(("migrate-", "clone-"))
)


# A sample that needs a world of its own; every other migration runs in two-accounts.json, clones in clones.json.
WORLDS = {
    "migrate-cross-region.json": "two-regions.json",
    "migrate-cross-region-two-step.json": "two-step-regions.json",
    "migrate-sse-rds.json": "sse-rds.json",
    "migrate-parameter-groups.json": "parameter-groups.json",
    "migrate-serverless-v2.json": "serverless-v2.json",
    "migrate-carried-settings.json": "carried-settings.json",
    "clone-same-account-mirrored.json": "serverless-v2.json",
}


def _world(sample: str) -> str:
    return WORLDS.get(sample) or ("clones.json" if sample.startswith("clone-") else "two-accounts.json")


def test_the_samples_are_all_here() -> None:
    assert len(SAMPLES) == 21, SAMPLES
    assert set(WORLDS) <= set(SAMPLES)
    assert set(EXPECTED_TO_FAIL) <= set(SAMPLES)


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_sample_runs_under_the_twins_iam(sample: str) -> None:
    # Given the sample's world with the shipped member templates
    clone = sample.startswith("clone-")
    with running_twin(world=_world(sample)) as twin:
        assert twin.iam.enabled
        # When it runs
        machine = "CloneStateMachine" if clone else "MigrationStateMachine"
        description = twin.wait(twin.start(load_event(sample), machine=machine), timeout_real_seconds=240)
        denials = list(twin.iam.denials)
    # Then it succeeds, and nothing it did was refused (or it fails exactly where the sample says it should)
    if sample in EXPECTED_TO_FAIL:
        assert description["status"] == "FAILED"
        assert description["error"] == EXPECTED_TO_FAIL[sample]
    else:
        assert description["status"] == "SUCCEEDED", description.get("cause")
    assert denials == [], denials


def test_samples_name_the_documented_external_id() -> None:
    from ferry_cli.twin.world import DOCUMENTED_PARAMETERS

    external_id = DOCUMENTED_PARAMETERS["source-account"]["ExternalId"]
    for sample in SAMPLES:
        text = (REPO / "events" / sample).read_text(encoding="utf-8")
        assert f'"externalId": "{external_id}"' in text, sample
    assert Path(REPO / "member-accounts" / "README.md").read_text(encoding="utf-8").count(external_id) >= 2
