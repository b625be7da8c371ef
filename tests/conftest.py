"""Shared fixtures (the collection on an ansible_collections path, the stand-in) and the suite's rules.

Parallel runs (pytest-xdist, `-n auto --dist loadgroup` in pytest.ini):

- The worker count is pytest_xdist_auto_num_workers() below: MILOS_TEST_WORKERS
  (or PYTEST_XDIST_AUTO_NUM_WORKERS) if set, else DEFAULT_WORKERS, except that a
  single test file or test id on the command line runs serially. `-n 0` runs
  serially, `-n 6` with 6 workers.
- Tests of a module that uses a module- or class-scoped fixture stay on one
  worker (an automatic xdist_group per module), so such a fixture (a stack, a
  playbook run) is set up once. Other tests spread one by one. Session
  fixtures (shared_standin, postgres) are per worker.
- Workers start the heaviest groups first (lint, Molecule, `slow`, `docker`, in
  that order), so that the long ones do not end the run alone.
- Each worker checks for leftovers of its own Compose projects only
  (nothing_left_behind).

Under CI=true no test may skip silently: a skip (a missing tool, not root, ...)
fails the run, unless the test carries `@pytest.mark.ci_may_skip("<reason>")` and
the skip's reason contains that text. xfail is not affected.
"""

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

from tests.helpers.standin import HEALTH_INTERVAL, HEALTH_RETRIES, Standin  # noqa: E402

# Stacks that roles, playbooks and Molecule start from demo/milos-shop/docker-compose.yml
# (not through Standin) read the health check's interval and retries from the environment.
os.environ.setdefault("MILOS_SHOP_HEALTH_INTERVAL", HEALTH_INTERVAL)
os.environ.setdefault("MILOS_SHOP_HEALTH_RETRIES", HEALTH_RETRIES)

# Measured on a 2-core machine (see changelogs/fragments/test-suite.yml): the tests
# mostly wait on Docker and ansible-playbook, so more workers than cores pay off.
DEFAULT_WORKERS = 4
CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def pytest_xdist_auto_num_workers(config):
    for var in ("MILOS_TEST_WORKERS", "PYTEST_XDIST_AUTO_NUM_WORKERS"):
        if os.environ.get(var, "").strip():
            return int(os.environ[var])
    # One test file (or test) named on the command line runs serially: starting
    # workers, each collecting, costs more than it saves there.
    args = [a for a in config.args if not a.startswith("-")]
    if len(args) == 1 and ("::" in args[0] or args[0].endswith(".py")):
        return 0
    return DEFAULT_WORKERS


_SHARED_SCOPES = {"module", "class", "package"}


def _priority(item) -> int:
    """Lower starts earlier: the lint group is one worker's longest chain, then Molecule."""
    if item.get_closest_marker("lint") is not None:
        return 0
    if item.nodeid.startswith("tests/test_molecule.py"):
        return 1
    if item.get_closest_marker("slow") is not None:
        return 2
    if item.get_closest_marker("docker") is not None:
        return 3
    return 9


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):
        return  # a serial run keeps pytest's order
    modules: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        info = getattr(item, "_fixtureinfo", None)
        shared = info is not None and any(defs and defs[-1].scope in _SHARED_SCOPES
                                          for defs in info.name2fixturedefs.values())
        if shared and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(module))
        modules[module] = min(modules.get(module, 9), _priority(item))
    # Stable sort by module: a module's tests stay together and in their order.
    items.sort(key=lambda item: modules[item.nodeid.split("::")[0]])


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (CI and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    marker = item.get_closest_marker("ci_may_skip")
    allowed = [str(a) for a in marker.args] if marker is not None else []
    if any(a and a in reason for a in allowed):
        return
    report.outcome = "failed"
    report.longrepr = (f"skipped under CI=true, which fails the run (install or enable what the test needs, "
                       f"or mark the test @pytest.mark.ci_may_skip(<reason>) if skipping is right): {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"{collector.nodeid} skipped at collection under CI=true, which fails the run: " \
                          f"{_skip_reason(report)}"


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
    try:
        s.up()
        yield s
    finally:
        s.destroy()  # also when up() failed: nothing is left behind


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

    Every stand-in records its Compose project (tests.helpers.standin.PROJECTS) in
    the process that made it; only those are checked, so other runs on the same
    machine, and under pytest-xdist the other workers (each runs this fixture for
    itself), cannot disturb this one. (tests/test_molecule.py checks the
    Molecule scenarios' projects.)
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
