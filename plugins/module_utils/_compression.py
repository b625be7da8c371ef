# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""Compression of backups: gzip (parallel members), zstd, none.

- :func:`compress` writes a file into an open file object, :func:`decompress`
  the other way round (ValueError naming the problem for a damaged input).
- gzip is compressed in parallel (:func:`gzip_parallel`): one complete gzip
  member per chunk, on every core; any gunzip reads them as one stream.
- zstd uses the ``zstd`` command (``-T0``) when it is on PATH, else the
  Python library ``zstandard``; :func:`require_compression` fails early (also
  in check mode) when neither is there.
- :func:`compression_of` tells the compression from a backup file name.

It does not import Ansible.
"""

from __future__ import annotations

import collections
import errno
import gzip
import os
import shutil
import subprocess
import tempfile
import traceback
import zlib
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.milos_shop.ops.plugins.module_utils._files import (
    CHUNK_SIZE,
    DeadlineExceeded,
    MissingDependency,
    OpsError,
    is_disk_full,
    write_all,
)

try:
    import zstandard
except ImportError:
    zstandard = None
    ZSTANDARD_IMPORT_ERROR = traceback.format_exc()
else:
    ZSTANDARD_IMPORT_ERROR = None

COMPRESSIONS = ("gzip", "zstd", "none")
SUFFIXES = {"gzip": ".db.gz", "zstd": ".db.zst", "none": ".db"}
LEVELS = {"gzip": (1, 9), "zstd": (1, 19)}


def cpu_count():
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def compression_of(path):
    """The compression a backup file name implies (gzip, zstd, none), or None."""
    for compression in ("gzip", "zstd"):
        if path.endswith(SUFFIXES[compression]):
            return compression
    if path.endswith(SUFFIXES["none"]):
        return "none"
    return None


def validate_level(compression, level, error=OpsError):
    """Fail unless level is in the range of the compression (any level for none)."""
    if compression not in LEVELS:
        return
    low, high = LEVELS[compression]
    if not low <= level <= high:
        raise error("compression_level %r is out of range for compression=%r (%d to %d)" % (level, compression, low, high))


def zstd_command():
    return shutil.which("zstd")


def require_compression(compression):
    """Fail early (also in check mode) when the compression cannot be done here."""
    if compression == "zstd" and not zstd_command() and zstandard is None:
        raise MissingDependency("zstandard", "for compression=zstd (or install the zstd command)", ZSTANDARD_IMPORT_ERROR)


def _gzip_member(data, level):
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def gzip_parallel(src_path, out, level, deadline, workers=None, chunk_size=CHUNK_SIZE):
    """Write src_path to out as concatenated gzip members compressed on every core.

    zlib releases the GIL while it compresses, so threads use all cores. Each
    chunk becomes one complete gzip member; members are written in order, and
    gunzip (and Python's gzip) read concatenated members as one stream.
    """
    workers = workers or cpu_count()
    pending = collections.deque()
    wrote = False
    with open(src_path, "rb") as handle, ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            while True:
                chunk = handle.read(chunk_size)
                if not chunk:
                    break
                pending.append(pool.submit(_gzip_member, chunk, level))
                if len(pending) >= 2 * workers:
                    write_all(out, pending.popleft().result())
                    wrote = True
                    deadline.check("compress")
            while pending:
                write_all(out, pending.popleft().result())
                wrote = True
                deadline.check("compress")
            if not wrote:
                write_all(out, _gzip_member(b"", level))
        finally:
            for future in pending:
                future.cancel()


def zstd_compress(src_path, out, level, deadline):
    """Compress with the zstd command on every core (-T0), else the zstandard library."""
    command = zstd_command()
    if command:
        run_filter([command, "-T0", "-%d" % level, "-q", "-c", src_path], out, deadline, "compress")
        return
    if zstandard is None:
        raise MissingDependency("zstandard", "for compression=zstd (or install the zstd command)", ZSTANDARD_IMPORT_ERROR)
    compressor = zstandard.ZstdCompressor(level=level, threads=-1).compressobj()
    with open(src_path, "rb") as handle:
        while True:
            chunk = handle.read(CHUNK_SIZE)
            if not chunk:
                break
            write_all(out, compressor.compress(chunk))
            deadline.check("compress")
    write_all(out, compressor.flush())


def copy_plain(src_path, out, deadline, phase="compress"):
    with open(src_path, "rb") as handle:
        while True:
            chunk = handle.read(CHUNK_SIZE)
            if not chunk:
                break
            write_all(out, chunk)
            deadline.check(phase)


def run_filter(argv, out, deadline, phase):
    """Run argv with stdout going to the file out; errors raise OSError or OpsError."""
    out.flush()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out.fileno(), stderr=errors)
        try:
            returncode = proc.wait(timeout=deadline.remaining() if deadline.seconds else None)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise DeadlineExceeded(deadline.seconds, phase)
        if returncode != 0:
            errors.seek(0)
            text = errors.read().decode("utf-8", "replace").strip()
            if "No space left" in text or "Disk quota" in text:
                raise OSError(errno.ENOSPC, "%s failed: %s" % (os.path.basename(argv[0]), text))
            raise OpsError("%s failed with exit code %d: %s" % (" ".join(argv), returncode, text))
    deadline.check(phase)


def compress(compression, src_path, out, level, deadline):
    """Write src_path into the open file out, compressed as compression (gzip, zstd, none)."""
    if compression == "gzip":
        gzip_parallel(src_path, out, level, deadline)
    elif compression == "zstd":
        zstd_compress(src_path, out, level, deadline)
    else:
        copy_plain(src_path, out, deadline)


def decompress(compression, src_path, out, deadline):
    """Decompress src_path into the open file out; raises ValueError naming the problem."""
    if compression == "gzip":
        try:
            with gzip.open(src_path, "rb") as handle:
                while True:
                    chunk = handle.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    write_all(out, chunk)
                    deadline.check("decompress")
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ValueError("%s: %s" % (type(exc).__name__, exc))
        except OSError as exc:
            if is_disk_full(exc):
                raise
            raise ValueError(str(exc))
    elif compression == "zstd":
        command = zstd_command()
        if command:
            try:
                run_filter([command, "-d", "-q", "-c", src_path], out, deadline, "decompress")
            except OpsError as exc:
                if isinstance(exc, DeadlineExceeded):
                    raise
                raise ValueError(exc.msg)
            return
        if zstandard is None:
            raise MissingDependency("zstandard", "to verify a zstd backup (or install the zstd command)", ZSTANDARD_IMPORT_ERROR)
        try:
            with open(src_path, "rb") as handle:
                reader = zstandard.ZstdDecompressor().stream_reader(handle)
                while True:
                    chunk = reader.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    write_all(out, chunk)
                    deadline.check("decompress")
        except zstandard.ZstdError as exc:
            raise ValueError(str(exc))
    else:
        copy_plain(src_path, out, deadline, "decompress")
