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


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(docker_engine, scenario):
    sequence = scenario_sequence(scenario)
    # Every scenario converges, checks check mode and verifies; idempotence unless it says why not.
    assert {"converge", "check", "verify", "cleanup"} <= set(sequence), sequence
    before = molecule_projects()
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_NOCOLOR="1", NO_COLOR="1", PY_COLORS="0")
    res = subprocess.run([str(BIN / "molecule"), "test", "-s", scenario], cwd=ROOT, capture_output=True, text=True,
                         env=env, timeout=900, check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-15000:]
    for step in ("converge", "idempotence", "check", "verify"):
        if step in sequence:
            assert f"{step}: Executed: Successful" in out, f"{step} did not run:\n{out[-5000:]}"
    left = molecule_projects() - before
    assert not left, f"scenario {scenario} left Compose projects behind: {left}"
