"""Shared fixtures: the collection on an ansible_collections path, the stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".cache" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "milos_shop" / "ops"

# Unit tests import the collection's code as ansible_collections.milos_shop.ops.*
if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    LINK.symlink_to(os.path.relpath(ROOT, LINK.parent))
sys.path.insert(0, str(COLLECTIONS))
sys.path.insert(0, str(ROOT))

from tests.helpers.standin import Standin  # noqa: E402


@pytest.fixture(scope="session")
def docker_engine():
    res = subprocess.run(["docker", "image", "inspect", "milos-shop/standin:local"], capture_output=True, check=False)
    if res.returncode != 0:
        pytest.fail("the stand-in image milos-shop/standin:local is missing: run ./scripts/setup")


@pytest.fixture
def standin_factory(docker_engine, tmp_path):
    """Start stand-in stacks on demand; all are torn down after the test."""
    made = []

    def make(app_env=None, up=True):
        s = Standin(tmp_path, app_env=app_env)
        made.append(s)
        return s.up() if up else s

    yield make
    for s in made:
        s.destroy()


@pytest.fixture
def standin(standin_factory):
    """A running, healthy stand-in stack of its own."""
    return standin_factory()


@pytest.fixture(scope="session")
def shared_standin(docker_engine, tmp_path_factory):
    """One stand-in for read-mostly tests of a module; do not break it."""
    s = Standin(tmp_path_factory.mktemp("shared"))
    s.up()
    yield s
    s.destroy()


def _leftovers(projects: set[str]) -> list[str]:
    """Containers and networks still present from the given Compose projects."""
    left = []
    for project in sorted(projects):
        label = f"label=com.docker.compose.project={project}"
        for kind in (["ps", "-a"], ["network", "ls"]):
            out = subprocess.run(["docker", *kind, "-q", "--filter", label], capture_output=True, text=True, check=False)
            left += [f"{project}: {' '.join(kind[:1])} {ident}" for ident in out.stdout.split()]
    return left


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind():
    """Fail the run when its tests leave containers or networks behind.

    Every stand-in records its Compose project (tests.helpers.standin.PROJECTS);
    only those are checked, so other runs on the same machine cannot disturb this
    one. (tests/test_molecule.py checks the Molecule scenarios' projects.)
    """
    from tests.helpers import standin

    yield
    left = _leftovers(set(standin.PROJECTS))
    assert not left, f"tests left these behind: {left}"


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on 127.0.0.1 for the session (database milos_shop, user milos)."""
    import tempfile

    from tests.helpers.postgres import Postgres

    # Not under pytest's tmp_path: the server runs as `postgres`, which cannot enter root's 0700 directories.
    server = Postgres(Path(tempfile.mkdtemp(prefix="milos-pg-"))).start()
    yield server
    server.stop()
