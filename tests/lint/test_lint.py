"""Lint as part of the suite: ansible-lint (production), yamllint, ansible-test sanity, antsibull-docs.

All on one pytest-xdist worker, one after another (xdist_group "lint"): they are
CPU-heavy, and sanity and antsibull-docs share the collection copy in .cache/sanity.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SANITY_ROOT = ROOT / ".cache" / "sanity" / "ansible_collections" / "milos_shop" / "ops"

pytestmark = [pytest.mark.lint, pytest.mark.xdist_group("lint")]


def run(cmd, cwd=ROOT, timeout=900, env=None):
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    return res.returncode, res.stdout + res.stderr


def test_ansible_lint_production_profile():
    rc, out = run([str(BIN / "ansible-lint"), "--profile", "production", "--nocolor"])
    assert rc == 0, out
    assert "Profile 'production' was required, and it passed" in out


def test_yamllint():
    rc, out = run([str(BIN / "yamllint"), "--strict", "."])
    assert rc == 0, out


def test_no_sanity_ignore_files():
    assert not list((ROOT / "tests" / "sanity").glob("ignore-*.txt")), "sanity ignore lists must stay empty"


def _sync_collection_copy() -> None:
    """Copy the project's files (tracked or not ignored) under an ansible_collections path.

    The copy lives in .cache/sanity so that ansible-test's virtual environments
    (under its tests/output) are reused by later runs on the same machine.
    """
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    wanted = {f for f in files if f and (ROOT / f).is_file()}
    SANITY_ROOT.mkdir(parents=True, exist_ok=True)
    for path in SANITY_ROOT.rglob("*"):
        rel = path.relative_to(SANITY_ROOT).as_posix()
        if rel.startswith("tests/output") or path.is_dir():
            continue
        if rel not in wanted:
            path.unlink()
    for rel in wanted:
        dst = SANITY_ROOT / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dst)
    # ansible-test lists the collection's files with git: give the copy a repository
    # of its own (never let git fall through to the checkout's repository above it).
    git = ["git", f"--git-dir={SANITY_ROOT / '.git'}", f"--work-tree={SANITY_ROOT}"]
    if subprocess.run([*git, "rev-parse", "--git-dir"], capture_output=True, check=False).returncode != 0:
        shutil.rmtree(SANITY_ROOT / ".git", ignore_errors=True)
        subprocess.run(["git", "init", "-q", str(SANITY_ROOT)], check=True)
    subprocess.run([*git, "add", "-A", "."], cwd=SANITY_ROOT, check=True)


def _install_offline_get_pip() -> None:
    """Put the offline stand-in where ansible-test looks for its cached get-pip.py."""
    import ansible_test._internal.python_requirements as requirements

    versions = set(re.findall(r"pip='([\d.]+)'", Path(requirements.__file__).read_text()))
    assert versions, "could not find the pip version ansible-test bootstraps"
    source = (ROOT / "tests" / "sanity" / "get_pip_offline.py").read_text()
    cache = Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for version in versions:
        (cache / f"get_pip_{version.replace('.', '_')}.py").write_text(source)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_ansible_test_sanity():
    _sync_collection_copy()
    _install_offline_get_pip()
    env = dict(os.environ, ANSIBLE_TEST_PREFER_PODMAN="0")
    rc, out = run([str(BIN / "ansible-test"), "sanity", "--venv", "--requirements",
                   "--python", f"{sys.version_info.major}.{sys.version_info.minor}", "--color", "no"],
                  cwd=SANITY_ROOT, timeout=1500, env=env)
    problems = [line for line in out.splitlines() if line.startswith(("ERROR", "FATAL"))]
    assert rc == 0, "\n".join(problems) or out[-5000:]
    # A run that found nothing to test would also exit 0.
    assert "All targets skipped" not in out, out[-5000:]
    for test in ("validate-modules", "pylint", "pep8", "yamllint", "ansible-doc", "import"):
        assert re.search(rf"Running sanity test ['\"]{test}['\"]", out), f"sanity test {test} did not run:\n{out[-3000:]}"


def test_antsibull_docs_lint_collection_docs():
    """Plugin and role docs as the Ansible docsite would render them (schema, markup, references)."""
    _sync_collection_copy()
    rc, out = run([str(BIN / "antsibull-docs"), "lint-collection-docs", "--plugin-docs", str(SANITY_ROOT)],
                  cwd=SANITY_ROOT, timeout=600)
    assert rc == 0, out.replace(str(SANITY_ROOT) + "/", "")
