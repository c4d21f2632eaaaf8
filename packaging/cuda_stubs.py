"""Stand-in CUDA libraries for a CPU-only bundle built from PyPI's CUDA build of torch.

PyPI's Linux torch wheel is linked against the NVIDIA libraries (``libtorch_python.so`` and
``libtorch_cuda.so`` list ``libcudart``, ``libcublas``, ``libcudnn``, ``libnccl`` … as
DT_NEEDED), so ``import torch`` fails if they are simply left out, yet they are ~2 GB a
photo app never uses on CPU. This writes a tiny stub for each such library: same soname,
the C functions torch imports from it with their symbol versions, each failing with an
error code, and ``cudaGetDeviceCount`` reporting no device. torch then imports and
``torch.cuda.is_available()`` is False on every machine, including ones with an NVIDIA GPU
(keeping the real CUDA runtime beside stubbed maths libraries would instead fail on the
first CUDA matrix product). torch's own ``libtorch_cuda.so`` stays: its C++ interface is
used while torch imports (distributed process-group defaults), which a stub cannot fake.

Linux only; a CPU build of torch needs none of this (``needed_stubs`` returns nothing).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

MESSAGE = "CUDA is not part of this CPU-only build of photofind"
ERROR = {"libcudart": 100}  # cudaErrorNoDevice; every other library: 1 (a generic failure)
RETURNS_TEXT = re.compile(r"(String|Name)$|^ncclGetLastError$")
SPECIAL = {  # functions whose out-parameter callers read even on failure
    "cudaGetDeviceCount": "int cudaGetDeviceCount(int *n) { if (n) *n = 0; return 100; }",
}
SKIP = {"_init", "_fini", "_edata", "_end", "__bss_start"}
CXX = ("_Z", "__cxa", "__gxx", "_ITM", "__gmon")  # C++ / toolchain runtime, never stubbed
SYMBOL = re.compile(r"^\s*\d+:\s+[0-9a-f]+\s+(\d+)\s+(FUNC|OBJECT|NOTYPE|IFUNC)\s+(GLOBAL|WEAK)"
                    r"\s+\S+\s+(\S+)\s+(\S+)")


def needed(lib: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", "-W", str(lib)], capture_output=True, text=True,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def needed_stubs(torch_lib: Path, nvidia_root: Path) -> dict[str, Path]:
    """soname -> real NVIDIA library, for every NVIDIA library torch's own libraries
    (those that ``import torch`` loads) need directly."""
    real = {p.name: p for p in nvidia_root.rglob("*.so*") if p.is_file()} \
        if nvidia_root.is_dir() else {}
    found: dict[str, Path] = {}
    for lib in sorted(torch_lib.glob("*.so*")):
        for soname in needed(lib):
            if soname in real:
                found[soname] = real[soname]
    return found


def exported(lib: Path) -> list[tuple[str, str, int, str | None]]:
    """(name, FUNC|OBJECT, size, default version or None) of the defined dynamic symbols."""
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(lib)], capture_output=True,
                         text=True, check=True).stdout
    symbols = {}
    for line in out.splitlines():
        match = SYMBOL.match(line)
        if not match or match.group(4) in ("UND", "ABS"):  # ABS: version-node names
            continue
        size, kind, name = int(match.group(1)), match.group(2), match.group(5)
        if kind == "NOTYPE" or "@" in name and "@@" not in name:
            continue  # version-node markers; hidden older versions of a symbol
        name, _, version = name.partition("@@")
        if name in SKIP or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            continue
        symbols[name] = (name, "OBJECT" if kind == "OBJECT" else "FUNC", size, version or None)
    return sorted(symbols.values())


def stub_source(soname: str, symbols) -> tuple[str, str]:
    """C source and linker version script of one stub library."""
    error = ERROR.get(soname.split(".so")[0], 1)
    lines = [f"/* stub for {soname}: {MESSAGE} */",
             f'static const char message[] = "{MESSAGE}";']
    versions: dict[str | None, list[str]] = {}
    for name, kind, size, version in symbols:
        versions.setdefault(version, []).append(name)
        if kind == "OBJECT":
            lines.append(f"char {name}[{max(size, 1)}] __attribute__((aligned(16)));")
        elif name in SPECIAL:
            lines.append(SPECIAL[name])
        elif RETURNS_TEXT.search(name):
            lines.append(f"const char *{name}(void) {{ return message; }}")
        else:
            lines.append(f"long {name}(void) {{ return {error}; }}")
    # unversioned symbols stay out of the script: they remain global, without a version
    script = [f"{version} {{ global: {' '.join(f'{n};' for n in names)} }};"
              for version, names in versions.items() if version]
    return "\n".join(lines) + "\n", "\n".join(script) + "\n"


def referenced(consumers) -> set[str]:
    """Names the given libraries import from anywhere (undefined dynamic symbols)."""
    names = set()
    for lib in consumers:
        out = subprocess.run(["nm", "-D", "--undefined-only", str(lib)], capture_output=True,
                             text=True, check=True).stdout
        names.update(line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip())
    return names


def build_stub(soname: str, real: Path, out_dir: Path, wanted: set[str],
               cc: str = "cc") -> Path:
    """Only the C API that torch imports is defined: some NVIDIA libraries also export C++
    runtime code (libcufile: std::string members) that would interpose the real one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    symbols = [s for s in exported(real) if s[0] in wanted and not s[0].startswith(CXX)]
    source, script = stub_source(soname, symbols)
    c_file, map_file = out_dir / f"{soname}.c", out_dir / f"{soname}.map"
    c_file.write_text(source)
    map_file.write_text(script)
    target = out_dir / soname
    versioned = [f"-Wl,--version-script,{map_file}"] if script.strip() else []
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-w", "-o", str(target), str(c_file),
                    f"-Wl,-soname,{soname}", *versioned], check=True)
    return target


def build_all(torch_lib: Path, nvidia_root: Path, out_dir: Path,
              consumers=()) -> dict[str, Path]:
    """Build every stub torch needs; returns soname -> stub path (empty for CPU torch).
    ``consumers``: further extension modules (torchvision's) whose imports must resolve."""
    stubs = needed_stubs(torch_lib, nvidia_root)
    if not stubs:
        return {}
    wanted = referenced([*torch_lib.glob("*.so*"), *torch_lib.parent.glob("_C*.so"),
                         *consumers])
    return {soname: build_stub(soname, real, out_dir, wanted)
            for soname, real in stubs.items()}


if __name__ == "__main__":  # build into a folder: python cuda_stubs.py OUT
    import torch

    torch_dir = Path(torch.__file__).parent
    built = build_all(torch_dir / "lib", torch_dir.parent / "nvidia", Path(sys.argv[1]))
    for soname, path in built.items():
        print(f"{soname}: {path.stat().st_size:,} bytes")
