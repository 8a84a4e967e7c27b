"""The wheel's package list is written by hand in pyproject.toml: keep it complete."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from hawkeye_bench.core.user_data import JUDGES, PRESETS, TASKS

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "hawkeye_bench").rglob("__init__.py")
    }
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
    for kind in (PRESETS, JUDGES, TASKS):
        assert kind.package in listed
        assert (ROOT / kind.folder / kind.marker).exists()


@pytest.mark.timeout(360)  # above pip's own 300 s limit
def test_the_wheel_ships_every_kind_of_user_yaml(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, timeout=300,
    )  # fmt: skip
    wheel = next(tmp_path.glob("hawkeye_bench-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for kind in (PRESETS, JUDGES, TASKS):
        folder = kind.package.replace(".", "/")
        shipped = {n for n in names if n.startswith(folder + "/") and n.endswith(".yaml")}
        on_disk = list((ROOT / kind.folder).rglob("*.yaml"))
        assert len(shipped) == len(on_disk) > 0, kind.folder
        assert any(n.startswith(f"{folder}/{kind.marker}") for n in names), kind.folder


def test_user_yaml_is_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the checkout: no ./presets, ./judges, ./tasks here
    for kind in (PRESETS, JUDGES, TASKS):
        monkeypatch.delenv(kind.env_var, raising=False)
        assert kind.find() == ROOT / kind.folder
    own = tmp_path / "mine"
    own.mkdir()
    monkeypatch.setenv(PRESETS.env_var, str(own))
    assert PRESETS.search_dirs()[:2] == [own, ROOT / "presets"]  # the user's first, then ours
