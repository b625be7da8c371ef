"""The built artifact installs into an empty collections path and documents itself."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())
PLAYBOOKS = sorted(p.stem for p in (ROOT / "playbooks").glob("*.yml"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("build")
    res = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(ROOT), "--output-path", str(tmp)],
                         capture_output=True, text=True, check=False, cwd=tmp)
    assert res.returncode == 0, res.stdout + res.stderr
    artifact = next(tmp.glob("milos_shop-ops-*.tar.gz"))
    collections = tmp / "collections"
    res = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(collections), str(artifact)],
                         capture_output=True, text=True, check=False, cwd=tmp)
    assert res.returncode == 0, res.stdout + res.stderr
    env = {"ANSIBLE_COLLECTIONS_PATH": str(collections), "PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp),
           "ANSIBLE_NOCOLOR": "1"}
    return artifact, collections, env, tmp


def run(cmd, env, cwd):
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, cwd=cwd)
    return res.returncode, res.stdout + res.stderr


def test_artifact_leaves_out_the_demo_and_build_output(installed):
    artifact = installed[0]
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    for unwanted in ("demo/", ".venv/", ".cache/", "tests/output/", "scripts/", ".git/"):
        assert not any(n.startswith(unwanted) for n in names), unwanted
    for module in MODULES:
        assert f"plugins/modules/{module}.py" in names


def test_action_group_lists_every_module():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    assert sorted(runtime["action_groups"]["ops"]) == MODULES


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_module(installed, module):
    _unused, _unused, env, tmp = installed
    rc, out = run([str(BIN / "ansible-doc"), f"milos_shop.ops.{module}"], env, tmp)
    assert rc == 0, out
    assert f"milos_shop.ops.{module}" in out
    assert "EXAMPLES" in out and "RETURN VALUES" in out


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_role(installed, role):
    _unused, _unused, env, tmp = installed
    rc, out = run([str(BIN / "ansible-doc"), "-t", "role", f"milos_shop.ops.{role}"], env, tmp)
    assert rc == 0, out
    assert "ENTRY POINT: *main*" in out
    assert "Options" in out


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_resolves_by_fqcn(installed, playbook):
    _unused, _unused, env, tmp = installed
    rc, out = run([str(BIN / "ansible-playbook"), f"milos_shop.ops.{playbook}", "--syntax-check", "-i", "localhost,"], env, tmp)
    assert rc == 0, out
