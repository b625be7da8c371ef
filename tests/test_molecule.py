"""Molecule scenarios (delegated to this machine, testinfra verifiers), one test each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(docker_engine, scenario):
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_NOCOLOR="1", NO_COLOR="1", PY_COLORS="0")
    res = subprocess.run([str(BIN / "molecule"), "test", "-s", scenario], cwd=ROOT, capture_output=True, text=True,
                         env=env, timeout=900, check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-15000:]
    for step in ("converge", "idempotence", "check", "verify"):
        assert f"{step}: Executed: Successful" in out, f"{step} did not run:\n{out[-5000:]}"
