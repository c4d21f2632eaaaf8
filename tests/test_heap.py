"""The app's heap hands big freed blocks back to the system (glibc), except while torch
trains. Each case runs in a fresh process: the setting is process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _glibc_version() -> tuple[int, ...]:
    try:
        found = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError):
        return ()
    return tuple(int(part) for part in found.split()[-1].split(".")) if found else ()


pytestmark = pytest.mark.skipif(
    _glibc_version() < (2, 33),
    reason="the heap is tuned only where the C library is glibc (read by mallinfo2, 2.33+)")

# A photo's pixels (786 KB) allocated 200 times, each followed by a small block that stays
# (as the catalog's and Python's own objects do), then the pixels freed: what stays resident?
CHILD = r"""
import ctypes, json, os, sys
from contextlib import nullcontext
import numpy as np
from photofind.library import heap

class MallInfo2(ctypes.Structure):  # glibc's struct mallinfo2 (2.33+)
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2

def rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def a_step():
    "A training step's 8 MiB taken and freed: MB of it mapped apart, MB trimmed after."
    before = libc.mallinfo2()
    activations = np.ones(1 << 20)
    during = libc.mallinfo2()
    del activations
    after = libc.mallinfo2()
    return {"mapped": (during.hblkhd - before.hblkhd) / 2**20,
            "trimmed": (during.arena - after.arena) / 2**20}

def a_round():
    "MB still resident after the pixels are freed, and MB of them in blocks of their own."
    np.ones(786_432 // 8)  # one freed big block: glibc's own rule raises its threshold here
    start, kept, big = rss_mb(), [], []
    mapped = libc.mallinfo2().hblkhd
    for _ in range(200):
        big.append(np.ones(786_432 // 8))
        kept.append(np.ones(256))  # 2 KB, from the heap, above each big block
    mapped = (libc.mallinfo2().hblkhd - mapped) / 2**20
    big.clear()
    return rss_mb() - start, mapped

mode = sys.argv[1]
if mode == "launched":  # the photofind program, one command run: "status"
    from photofind.launch import main
    took = main(["--data-dir", sys.argv[2], "status"]) == 0
else:
    took = heap.return_big_blocks() if mode != "untuned" else None
if mode == "torch":
    heap.pool_big_blocks()
    heap.return_big_blocks()  # called again (a second program run in the process): no effect
result = {"took": took, "start": rss_mb(), "step": a_step()}
with heap.pooled_big_blocks() if mode == "pooled" else nullcontext():
    result["step_pooled"] = a_step()  # from the top of the heap: trimmed at once, or not
    result["first"], result["mapped_first"] = a_round()
    with heap.pooled_big_blocks() if mode == "pooled" else nullcontext():
        result["step_inner"] = a_step()
    result["step_inner_ended"] = a_step()
result["after"] = rss_mb()
result["second"], result["mapped_second"] = a_round()
print(json.dumps(result))
"""


def run(mode: str, *args: str) -> dict:
    # without settings that would tune the heap another way (glibc's own, jemalloc)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "LD_PRELOAD")}
    done = subprocess.run([sys.executable, "-c", CHILD, mode, *args], capture_output=True,
                          text=True, timeout=120, check=True, env=env)
    return json.loads(done.stdout.splitlines()[-1])


def test_untuned_glibc_keeps_freed_pixels_resident():
    """The problem itself, so that the next test is known to be able to fail."""
    result = run("untuned")
    assert result["first"] > 100 and result["mapped_first"] < 10  # of the 157 MB freed


def test_the_app_returns_freed_pixels():
    result = run("returned")
    assert result["took"] is True
    assert result["mapped_first"] > 150 and result["mapped_second"] > 150
    assert result["first"] < 20 and result["second"] < 20


def test_the_photofind_program_returns_them_from_its_start(tmp_path):
    result = run("launched", str(tmp_path / "data"))
    assert result["took"] is True and result["mapped_first"] > 150


def test_training_keeps_big_blocks_then_gives_them_back():
    result = run("pooled")
    assert result["mapped_first"] < 10 and result["first"] > 100  # kept while torch trains
    assert result["after"] - result["start"] < 20  # given back when it ends
    # a step's 8 MiB is neither mapped apart nor handed back at once, as glibc does by itself,
    # until the outer training ends
    assert result["step"]["mapped"] >= 8
    for step in ("step_pooled", "step_inner", "step_inner_ended"):
        assert result[step] == {"mapped": 0, "trimmed": 0}, (step, result)


def test_untuned_glibc_reuses_a_training_steps_memory():
    """What pooling gives back to torch: glibc's own rule, once a freed 8 MiB block has
    raised its threshold (the first was mapped apart)."""
    result = run("untuned")
    assert result["step"]["mapped"] >= 8
    assert result["step_pooled"] == {"mapped": 0, "trimmed": 0}, result


def test_a_process_where_torch_embeds_keeps_pooling():
    result = run("torch")
    assert result["mapped_first"] < 10 and result["mapped_second"] < 10
