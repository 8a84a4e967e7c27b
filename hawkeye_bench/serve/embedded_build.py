"""Which CPU instructions the installed llama-cpp-python library was compiled to use.

The embedded model must run on any x86-64 CPU with AVX2. A build for the compiling CPU
(``-march=native``, llama.cpp's default) may contain AVX-512 or AMX instructions that another
machine lacks, or that its hypervisor does not enable: the server then dies with SIGILL on its
first completion. This module checks the build itself, not merely whether it runs here:

- the features llama.cpp reports it was compiled with (``llama_print_system_info``);
- the instructions actually in its shared libraries (``objdump``): AMX tile instructions and
  AVX-512 (``zmm`` registers) must be absent.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: Features a portable build must not be compiled with.
NON_PORTABLE_FEATURES = ("AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AMX_INT8",
                         "AVX_VNNI")  # fmt: skip
#: Features every supported CPU has, which a portable build uses.
REQUIRED_FEATURES = ("AVX", "AVX2", "FMA", "F16C")
_AMX = re.compile(r"\b(?:tileloadd|tileloaddt1|tilestored|tdpb[a-z]*|tdpfp16ps|ldtilecfg)\b")
_AVX512 = re.compile(r"%zmm\d+|%k[1-7]\b")
_SYSTEM_INFO = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"


@dataclass
class BuildReport:
    libraries: list[Path]
    features: dict[str, bool] = field(default_factory=dict)
    amx_instructions: int | None = None  # None: objdump unavailable
    avx512_instructions: int | None = None

    def problems(self) -> list[str]:
        """Why this build is not portable; empty when it is."""
        found = [
            f"compiled with {name}" for name in NON_PORTABLE_FEATURES if self.features.get(name)
        ]
        found += [
            f"compiled without {name}" for name in REQUIRED_FEATURES if not self.features.get(name)
        ]
        if self.amx_instructions:
            found.append(f"{self.amx_instructions} AMX tile instructions in the libraries")
        if self.avx512_instructions:
            found.append(f"{self.avx512_instructions} AVX-512 instructions in the libraries")
        return found


def library_dir() -> Path:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("llama-cpp-python is not installed (the `local` extra)")
    return Path(spec.origin).parent / "lib"


def compiled_features(python: str = sys.executable) -> dict[str, bool]:
    """``{"AVX2": True, "AMX_INT8": False, ...}`` as llama.cpp reports its own build."""
    info = subprocess.run(
        [python, "-c", _SYSTEM_INFO], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    return {name: value == "1" for name, value in re.findall(r"([A-Z0-9_]+) = ([01])", info)}


def count_instructions(library: Path, pattern: re.Pattern[str]) -> int | None:
    """Instructions matching ``pattern`` in ``library``'s disassembly (None without objdump)."""
    objdump = shutil.which("objdump")
    if objdump is None:
        return None
    listing = subprocess.run(
        [objdump, "-d", "--no-show-raw-insn", str(library)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    return sum(1 for line in listing.splitlines() if pattern.search(line))


def inspect_build() -> BuildReport:
    libraries = sorted({path.resolve() for path in library_dir().glob("*.so*")})
    report = BuildReport(libraries=libraries, features=compiled_features())
    amx = [count_instructions(lib, _AMX) for lib in libraries]
    avx512 = [count_instructions(lib, _AVX512) for lib in libraries]
    if None not in amx:
        report.amx_instructions = sum(n for n in amx if n is not None)
    if None not in avx512:
        report.avx512_instructions = sum(n for n in avx512 if n is not None)
    return report
