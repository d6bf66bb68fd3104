"""member-accounts/README.md, the member templates, the twin and the code agree on one set of parameters."""

from __future__ import annotations

import re

import pytest

from aurora_ferry.core.naming import SNAPSHOT_PREFIX
from ferry_cli.template import load_cfn_yaml
from ferry_cli.twin.world import DOCUMENTED_PARAMETERS
from tests.conftest import REPO

pytestmark = pytest.mark.unit

README = (REPO / "member-accounts" / "README.md").read_text(encoding="utf-8")


def _deploy_parameters(template: str) -> dict[str, str]:
    """The --parameter-overrides of the README's deploy command for one template (required and shown)."""
    block = README.split(f"--template-file member-accounts/{template}.yaml", 1)[1].split("\n\n", 1)[0]
    return {
        k: v.strip('"').replace("$ORCH", "{orchestrator}")
        for k, v in re.findall(r"^\s+(\w+)=(\S+?)\s*\\?$", block, flags=re.MULTILINE)
    }


@pytest.mark.parametrize("template", ["source-account", "target-account"])
def test_the_twin_deploys_the_parameters_the_readme_documents(template: str) -> None:
    documented = _deploy_parameters(template)
    # The world supplies the accounts and keys; everything else must be what the README says to pass.
    world_supplied = {"TargetAccountIds", "SourceShareKeyArn"}
    assert {k: v for k, v in documented.items() if k not in world_supplied} == {
        k: v for k, v in DOCUMENTED_PARAMETERS[template].items() if k != "RoleName"
    }
    # RoleName is the README's optional fixed name, which the samples' role ARNs use.
    assert f"RoleName={DOCUMENTED_PARAMETERS[template]['RoleName']}" in README


@pytest.mark.parametrize("template", ["source-account", "target-account"])
def test_the_snapshot_prefix_default_is_the_codes(template: str) -> None:
    parameters = load_cfn_yaml(REPO / "member-accounts" / f"{template}.yaml")["Parameters"]
    assert parameters["ManagedSnapshotPrefix"]["Default"] == SNAPSHOT_PREFIX
    assert "aurora-ferry-" not in parameters["ManagedSnapshotPrefix"]["Description"]


def test_the_twin_deploys_the_regional_share_key_with_the_parameters_the_readme_documents() -> None:
    # Given the README's deploy command for the regional share key (two-step cross-Region copy)
    documented = _deploy_parameters("source-region-key")
    # Then the twin deploys it with the same parameters, the target accounts coming from the world
    assert {k: v for k, v in documented.items() if k != "TargetAccountIds"} == DOCUMENTED_PARAMETERS[
        "source-region-key"
    ]
    # And the source stack's parameters that name the regional keys are in the README's steps
    for parameter in ("CopyRegions", "CopyRegionShareKeyArns"):
        assert f'{parameter}="$' in README


@pytest.mark.parametrize("template", ["source-account", "target-account", "source-region-key"])
def test_every_template_parameter_is_in_the_readme_table(template: str) -> None:
    # Given the README's parameter table
    table = README.split("### Parameters", 1)[1].split("\n## ", 1)[0]
    # Then each parameter of the template has a row
    parameters = load_cfn_yaml(REPO / "member-accounts" / f"{template}.yaml")["Parameters"]
    missing = [name for name in parameters if f"`{name}`" not in table]
    assert not missing, f"{template}: {missing} not in member-accounts/README.md's parameter table"
