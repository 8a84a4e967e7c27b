"""The embedded model's llama-cpp-python build runs on any x86-64 CPU with AVX2.

Checked on the build itself (what it was compiled with, which instructions its libraries
contain), not only by running it here: this machine may have every instruction the build uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hawkeye_bench.serve import embedded_build as embedded_build
from hawkeye_bench.serve.embedded_build import BuildReport, count_instructions


def require_tool(name: str) -> None:
    """Skip without ``name`` on a developer's machine; fail in CI, whose .ci/run installs it."""
    if shutil.which(name) is not None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed: .ci/run installs it (qemu-user, binutils, gcc)")
    pytest.skip(f"needs {name}")


NON_PORTABLE_ASM = r"""
void amx_tile_load(void) { __asm__ volatile ("tileloadd (%%rax,%%rbx,1), %%tmm0" ::: "memory"); }
void avx512_add(void) { __asm__ volatile ("vaddps %%zmm1, %%zmm2, %%zmm3" ::: "memory"); }
"""


@pytest.mark.local_model
def test_installed_llama_cpp_is_a_portable_build() -> None:
    report = embedded_build.inspect_build()
    assert report.libraries, "no shared library found in llama_cpp/lib"
    assert report.amx_instructions == 0, "objdump missing, or AMX code in the build"
    assert report.avx512_instructions == 0, "objdump missing, or AVX-512 code in the build"
    assert report.problems() == []


def test_detector_finds_amx_and_avx512_instructions(tmp_path: Path) -> None:
    require_tool("gcc")
    require_tool("objdump")
    source = tmp_path / "nonportable.c"
    source.write_text(NON_PORTABLE_ASM)
    library = tmp_path / "libnonportable.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    amx = count_instructions(library, embedded_build._AMX)
    avx512 = count_instructions(library, embedded_build._AVX512)
    assert amx == 1 and avx512 == 1
    report = BuildReport([library], {"AVX": True, "AVX2": True, "FMA": True, "F16C": True},
                         amx_instructions=amx, avx512_instructions=avx512)  # fmt: skip
    assert report.problems() == [
        "1 AMX tile instructions in the libraries",
        "1 AVX-512 instructions in the libraries",
    ]


def test_native_build_features_are_reported() -> None:
    native = BuildReport([], {"AVX": True, "AVX2": True, "FMA": True, "F16C": True,
                              "AVX512": True, "AMX_INT8": True})  # fmt: skip
    assert native.problems() == ["compiled with AVX512", "compiled with AMX_INT8"]
    assert BuildReport([], {"AVX": True}).problems() == [
        "compiled without AVX2", "compiled without FMA", "compiled without F16C",
    ]  # fmt: skip


EMULATED_RUN = """
from llama_cpp import Llama
from hawkeye_bench.serve.embedded import local_model_path
llm = Llama(model_path=str(local_model_path()), n_ctx=256, n_threads=1, verbose=False)
print(repr(llm("The capital of France is", max_tokens=4, temperature=0)["choices"][0]["text"]))
"""


@pytest.mark.local_model
@pytest.mark.timeout(660)
def test_embedded_model_runs_on_an_emulated_avx2_only_cpu() -> None:
    """The build runs on a CPU without AVX-512 or AMX: a Haswell emulated by qemu, whatever CPU
    this machine has (a native build on an AVX-512 machine dies here with SIGILL)."""
    require_tool("qemu-x86_64")
    result = subprocess.run(
        ["qemu-x86_64", "-cpu", "Haswell", sys.executable, "-c", EMULATED_RUN],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() not in ("", "''")
