"""What the reliability tests share: the CLI in a real subprocess, the processes of a
process group, a real small disk to fill."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    """One export of the tiny model for every process of this module (and out of the small
    disks below, which are for the library's own files)."""
    return tmp_path_factory.mktemp("onnx")


def model_args(spec) -> list[str]:
    return ["--model", spec.name, "--model-config", spec.config, "--pretrained", spec.pretrained]


def cli(data_dir, *args, env=None, cwd=None, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "photofind", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=300, env=env, cwd=cwd,
                          **options)


def cli_env(onnx_cache) -> dict:
    return {**os.environ, "PHOTOFIND_ONNX_CACHE": str(onnx_cache)}


def clean(done: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in done.stderr, done.stderr


# -- processes ------------------------------------------------------------------------------
def group_members(pgid: int) -> list[str]:
    """Live processes of a process group (zombies excluded), as 'pid command'."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(f"{entry.name} {stat[:stat.rindex(')') + 1]}")
    return found


def photos_saved(data_dir: Path) -> int:
    try:
        with sqlite3.connect(f"file:{data_dir / 'catalog.sqlite3'}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM photos").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_for(condition, timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return condition()


@pytest.fixture
def small_disk(tmp_path):
    """A real 20 MB filesystem, to be filled."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"a full disk needs a small tmpfs, and mounting one failed: "
                    f"{done.stderr.strip()} (run as root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill the disk under ``folder``, then give back ``leave`` bytes."""
    try:
        with open(folder / "filler", "wb") as handle:
            while True:
                handle.write(bytes(4096))
                handle.flush()
    except OSError:  # full (maybe already before the file could be made)
        pass
    if leave and (folder / "filler").exists():
        with open(folder / "filler", "r+b") as handle:
            handle.truncate(max(0, os.fstat(handle.fileno()).st_size - leave))


