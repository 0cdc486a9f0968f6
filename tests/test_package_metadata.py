"""One version for the whole package: the dbt project, the Python distribution and the core."""

from __future__ import annotations

import re

import yaml

import cuped_stats
from tests.dbt_runner import REPO


def test_dbt_project_distribution_and_core_share_one_version() -> None:
    dbt_version = yaml.safe_load((REPO / "dbt_project.yml").read_text())["version"]
    pyproject = (REPO / "pyproject.toml").read_text()
    distribution = re.search(r'(?m)^version = "([^"]+)"$', pyproject).group(1)
    models = yaml.safe_load((REPO / "python_models" / "_python_models.yml").read_text())["models"]
    checked = next(m for m in models if m["name"] == "cuped__statistics")
    expected_by_dbt = checked["config"]["meta"]["cuped_version"]
    assert dbt_version == distribution == cuped_stats.__version__ == expected_by_dbt


def test_the_license_file_is_the_one_pyproject_declares() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'(?m)^license = "Apache-2.0"$', pyproject)
    assert re.search(r'(?m)^license-files = \["LICENSE"\]$', pyproject)
    text = (REPO / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n                           Version 2.0")


def test_the_changelog_describes_the_current_version() -> None:
    # what is not released yet goes under "## Unreleased", above the current version
    changelog = (REPO / "CHANGELOG.md").read_text()
    headings = re.findall(r"(?m)^## (\S+)$", changelog)
    released = [heading for heading in headings if heading != "Unreleased"]
    assert headings[: len(headings) - len(released)] in ([], ["Unreleased"])
    assert released[0] == cuped_stats.__version__
