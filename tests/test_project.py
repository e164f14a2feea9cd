"""The project's own files: install specs agree, the CLI and CI script are wired as documented."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.fast  # the fast tier: no War and Peace, no browser, no Ray

REPO = Path(__file__).resolve().parents[1]


def test_environment_yml_is_a_conda_spec_installing_this_package():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["name"] == "rnnviz" and env["channels"]
    deps = env["dependencies"]
    assert any(isinstance(d, str) and d.startswith("python") for d in deps) and "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-e .[test,lab]" in pip
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["test"]) \
        | set(project["optional-dependencies"]["lab"])
    assert set(pip) - {"-e .[test,lab]"} == wanted  # the same packages and ranges as the package


def test_torch_range_admits_the_cpu_wheel_ci_installs():
    spec = next(d for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
                if d.startswith("torch"))
    from packaging.specifiers import SpecifierSet

    assert "2.13.0" in SpecifierSet(spec[len("torch"):])


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    cmd = re.search(r"^make test\b", readme, re.M)
    assert cmd, "README names `make test` as the test command"
    assert re.search(r"^make test$", ci, re.M)
    assert "torch==2.13.0" in ci


def test_cli_lists_its_commands():
    out = subprocess.run([sys.executable, "-m", "rnnviz_lib.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("data", "report"):
        assert cmd in out
