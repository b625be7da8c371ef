"""Molecule scenarios (delegated to this machine, testinfra verifiers), one test each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def scenario_sequence(scenario: str) -> list[str]:
    """The scenario's own test_sequence, else the shared base's."""
    own = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text()) or {}
    base = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())
    return (own.get("scenario") or {}).get("test_sequence") or base["scenario"]["test_sequence"]


def molecule_projects() -> set[str]:
    out = subprocess.run(["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
                         capture_output=True, text=True, check=False).stdout.split()
    return {p for p in out if p.startswith("milos-molecule-")}


def scenario_projects(scenario: str) -> set[str]:
    """The Compose projects the scenario names (its own: scenarios run side by side under pytest-xdist)."""
    own = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text()) or {}
    group_vars = (((own.get("provisioner") or {}).get("inventory") or {}).get("group_vars") or {}).get("all") or {}
    return {v for k, v in group_vars.items() if k.endswith("_project_name") and isinstance(v, str)}


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(docker_engine, scenario):
    sequence = scenario_sequence(scenario)
    # Every scenario converges, checks check mode and verifies; idempotence unless it says why not.
    assert {"converge", "check", "verify", "cleanup"} <= set(sequence), sequence
    before = molecule_projects()
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_NOCOLOR="1", NO_COLOR="1", PY_COLORS="0",
               # The testinfra verifier's pytest finds this checkout's pytest.ini: not in parallel there.
               PYTEST_ADDOPTS=f"{os.environ.get('PYTEST_ADDOPTS', '')} -n 0".strip())
    res = subprocess.run([str(BIN / "molecule"), "test", "-s", scenario], cwd=ROOT, capture_output=True, text=True,
                         env=env, timeout=900, check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-15000:]
    for step in ("converge", "idempotence", "check", "verify"):
        if step in sequence:
            assert f"{step}: Executed: Successful" in out, f"{step} did not run:\n{out[-5000:]}"
    # Only the scenario's own projects (or, if it names none, new ones): another
    # worker may be running another scenario right now.
    own = scenario_projects(scenario)
    left = (molecule_projects() & own) if own else (molecule_projects() - before)
    assert not left, f"scenario {scenario} left Compose projects behind: {left}"
