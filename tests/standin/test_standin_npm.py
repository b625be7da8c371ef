"""The stand-in's npm project: locked dependencies, `npm test`, a deterministic build.

The lock file pins old releases (express 4.17.1, socket.io 4.5.0,
express-rate-limit 6.7.0) under caret ranges, so that the guide's `npm
outdated`, `npm update` and `npm audit` have something to do. Nothing here
reaches a registry.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from tests.helpers.standin import STANDIN_SRC

PINNED = {"express": "4.17.1", "express-rate-limit": "6.7.0", "socket.io": "4.5.0"}


def npm(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(["npm", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def package():
    return json.loads((STANDIN_SRC / "package.json").read_text())


@pytest.fixture(scope="module")
def lock():
    return json.loads((STANDIN_SRC / "package-lock.json").read_text())


def test_dependencies_are_caret_ranges_over_the_pinned_releases(package):
    assert package["dependencies"] == {name: f"^{version}" for name, version in PINNED.items()}
    for name, version in PINNED.items():
        # A caret range on a 1.x-or-later release admits newer minors and patches.
        assert int(version.split(".", maxsplit=1)[0]) >= 1


def test_lock_file_pins_the_old_releases(package, lock):
    assert lock["name"] == package["name"] and lock["version"] == package["version"]
    assert lock["lockfileVersion"] >= 2
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    for name, version in PINNED.items():
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["version"] == version
        # (the lock names no registry: `resolved` is left out, the hash stays)
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/]+=*", entry["integrity"])


def test_installed_node_modules_match_the_lock(lock):
    for key, entry in lock["packages"].items():
        if not key or entry.get("link") or entry.get("optional") or entry.get("dev"):
            continue
        manifest = STANDIN_SRC / key / "package.json"
        assert manifest.exists(), f"{key} is locked but not installed (run ./scripts/setup)"
        assert json.loads(manifest.read_text())["version"] == entry["version"], key


def test_npm_scripts_name_the_in_app_commands(package):
    scripts = package["scripts"]
    assert scripts["start"] == "node dist/server.js"
    assert scripts["build"] == "node scripts/build.js"
    assert scripts["test"] == "node --test test/"
    for name in ("db:generate", "db:push", "db:check", "seed", "backup-db", "writer"):
        assert scripts[name] == f"sh scripts/in-app.sh {name}"
    mapping = (STANDIN_SRC / "scripts" / "in-app.sh").read_text()
    assert "writer) set -- node dist/writer.js" in mapping
    assert 'set -- node dist/cli.js "$cmd"' in mapping


def test_npm_test_passes():
    res = npm("test", cwd=STANDIN_SRC)
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"^# pass 3$", res.stdout, re.M)
    assert re.search(r"^# fail 0$", res.stdout, re.M)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Two `npm run build`s of a copy of the project (the demo's dist/ stays as it is)."""
    out = []
    for i in range(2):
        root = tmp_path_factory.mktemp(f"build{i}")
        shutil.copy(STANDIN_SRC / "package.json", root)
        shutil.copytree(STANDIN_SRC / "src", root / "src")
        shutil.copytree(STANDIN_SRC / "scripts", root / "scripts")
        os.symlink(STANDIN_SRC / "node_modules", root / "node_modules")
        res = npm("run", "-s", "build", cwd=root)
        assert res.returncode == 0, res.stdout + res.stderr
        out.append((root / "dist", res.stdout))
    return out


def test_build_is_deterministic(builds):
    (first, out1), (second, out2) = builds
    assert out1 == out2
    files = sorted(os.listdir(first))
    assert files == sorted(os.listdir(second))
    assert "build-info.json" in files and "server.js" in files
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    info = json.loads((first / "build-info.json").read_text())
    assert info["dependencies"] == PINNED
    assert out1.strip() == f"build: dist/ {info['version']} ({info['sourceHash']})"
    # dist/ is src/ as it is, plus the build info.
    for name in os.listdir(STANDIN_SRC / "src"):
        assert (first / name).read_bytes() == (STANDIN_SRC / "src" / name).read_bytes()


def test_build_matches_the_demo_dist(builds):
    info = json.loads((builds[0][0] / "build-info.json").read_text())
    demo = json.loads((STANDIN_SRC / "dist" / "build-info.json").read_text())
    assert info == demo, "demo/milos-shop/dist is stale: run ./scripts/setup"


@pytest.mark.docker
def test_running_image_reports_the_same_build(builds, shared_standin):
    info = json.loads((builds[0][0] / "build-info.json").read_text())
    status, version, _unused = shared_standin.request("/api/version")
    assert status == 200
    assert version["dependencies"] == info["dependencies"]
    assert version == info, "the image milos-shop/standin:local is stale: run ./scripts/setup"
