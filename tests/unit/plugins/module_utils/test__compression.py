# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/_compression.py on real files in tmp_path."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils import _compression
from ansible_collections.milos_shop.ops.plugins.module_utils._files import Deadline, MissingDependency, OpsError

HAS_ZSTD = shutil.which("zstd") is not None
ZSTD = pytest.param("zstd", marks=pytest.mark.skipif(not HAS_ZSTD and _compression.zstandard is None, reason="no zstd"))


@pytest.mark.parametrize("path, expected", [
    ("/b/milos_shop_backup_2026-01-01T00-00-00.db.gz", "gzip"),
    ("/b/milos_shop_backup_2026-01-01T00-00-00.db.zst", "zstd"),
    ("/b/milos_shop_backup_2026-01-01T00-00-00.db", "none"),
    ("/b/dump.pgc", None),
    ("/b/x.gz", None),
])
def test_compression_of(path, expected):
    assert _compression.compression_of(path) == expected


@pytest.mark.parametrize("compression, level, ok", [
    ("gzip", 1, True), ("gzip", 9, True), ("gzip", 0, False), ("gzip", 10, False),
    ("zstd", 19, True), ("zstd", 20, False), ("none", 99, True),
])
def test_validate_level(compression, level, ok):
    if ok:
        _compression.validate_level(compression, level)
    else:
        with pytest.raises(OpsError, match=r"^compression_level %d is out of range for compression='%s'" % (level, compression)):
            _compression.validate_level(compression, level)


@pytest.mark.parametrize("compression", ["gzip", ZSTD, "none"])
@pytest.mark.parametrize("size", [0, 1, 3 * 1024 * 1024 + 17])
def test_round_trip(tmp_path, compression, size):
    src = tmp_path / "plain"
    src.write_bytes(os.urandom(size // 2) + b"a" * (size - size // 2))
    packed = tmp_path / "packed"
    with open(packed, "wb") as out:
        _compression.compress(compression, str(src), out, 3, Deadline(0))
    back = tmp_path / "back"
    with open(back, "wb") as out:
        _compression.decompress(compression, str(packed), out, Deadline(0))
    assert back.read_bytes() == src.read_bytes()
    if compression == "gzip":
        assert subprocess.run(["gzip", "-dc", str(packed)], capture_output=True, check=True).stdout == src.read_bytes()


def test_gzip_members_are_one_stream(tmp_path):
    src = tmp_path / "plain"
    data = os.urandom(300 * 1024)
    src.write_bytes(data)
    packed = tmp_path / "p.gz"
    with open(packed, "wb") as out:
        _compression.gzip_parallel(str(src), out, 6, Deadline(0), workers=2, chunk_size=64 * 1024)
    assert packed.read_bytes().count(b"\x1f\x8b\x08") >= 5
    assert gzip.decompress(packed.read_bytes()) == data


@pytest.mark.parametrize("compression, damage, expected", [
    ("gzip", lambda b: b[:-20], "EOFError"),
    ("gzip", lambda b: b"not gzip at all" + b, "BadGzipFile"),
    pytest.param("zstd", lambda b: b[:-10], "", marks=pytest.mark.skipif(not HAS_ZSTD and _compression.zstandard is None, reason="no zstd")),
])
def test_decompress_names_the_damage(tmp_path, compression, damage, expected):
    src = tmp_path / "plain"
    src.write_bytes(os.urandom(200 * 1024))
    packed = tmp_path / "packed"
    with open(packed, "wb") as out:
        _compression.compress(compression, str(src), out, 3, Deadline(0))
    packed.write_bytes(damage(packed.read_bytes()))
    with open(tmp_path / "back", "wb") as out:
        with pytest.raises(ValueError, match=expected):
            _compression.decompress(compression, str(packed), out, Deadline(0))


def test_zstd_needs_the_command_or_the_library(monkeypatch):
    monkeypatch.setattr(_compression, "zstd_command", lambda: None)
    monkeypatch.setattr(_compression, "zstandard", None)
    with pytest.raises(MissingDependency, match="zstandard is required for compression=zstd"):
        _compression.require_compression("zstd")
    _compression.require_compression("gzip")
    _compression.require_compression("none")


def test_a_failing_filter_is_an_error(tmp_path):
    with open(tmp_path / "out", "wb") as out:
        with pytest.raises(OpsError, match="failed with exit code 1"):
            _compression.run_filter(["sh", "-c", "echo broken >&2; exit 1"], out, Deadline(0), "compress")


def test_cpu_count():
    assert _compression.cpu_count() >= 1
