"""Dataset loaders: real mirror rows, gold normalisation, ids, errors, fingerprints, hub path."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import pytest

from hawkeye_bench.core.boxed import last_boxed_content
from hawkeye_bench.datasets import (
    DatasetError,
    dataset_fingerprint,
    dataset_names,
    get_spec,
    gold_format_of,
    load_problems,
)
from hawkeye_bench.datasets.aime import aime_gold
from hawkeye_bench.datasets.gsm8k import gsm8k_gold

EXPECTED_COUNTS = {
    "math": 5000,
    "math500": 500,
    "gsm8k": 1319,
    "aime24": 30,
    "aime25": 30,
    "aime": 60,
    "commonsenseqa": 1197,
}
# Published in the data MANIFEST for the exact bytes of each mirror file.
MANIFEST_SHA256 = {
    "math500": "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132",
    "gsm8k": "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
    "aime24": "af2b8bd2aa911b6333ad0df32f3ca05c7ae8ed10f1731f4372c8ae26990bf7ac",
}


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_every_dataset_loads_with_unique_ids(name: str, data_dir: Path) -> None:
    problems = load_problems(name, data_dir=data_dir)
    assert len(problems) == EXPECTED_COUNTS[name]
    assert len({p.id for p in problems}) == len(problems)
    assert all(p.question.strip() and p.gold.strip() for p in problems)
    assert {p.dataset for p in problems} <= {
        "math",
        "math500",
        "gsm8k",
        "aime24",
        "aime25",
        "commonsenseqa",
    }


def test_registry_lists_all_names() -> None:
    assert set(dataset_names()) == set(EXPECTED_COUNTS)


def test_each_dataset_declares_how_its_gold_is_written() -> None:
    assert {name: gold_format_of(name) for name in dataset_names()} == {
        "math": "latex", "math500": "latex",
        "gsm8k": "number", "aime24": "number", "aime25": "number", "aime": "number",
        "commonsenseqa": "choice",
    }  # fmt: skip
    assert gold_format_of("someone-elses-benchmark") == "auto"


def test_a_dataset_module_is_all_a_new_dataset_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin module registers a dataset with its gold format; nothing else is edited."""
    (tmp_path / "trivia_numbers.py").write_text(
        "from hawkeye_bench.core.problem import Problem\n"
        "from hawkeye_bench.datasets import DatasetSpec, register_dataset\n"
        "def row(r, i):\n"
        "    return Problem(id=f'trivia/{i}', dataset='trivia', question=r['q'], gold=r['a'])\n"
        "register_dataset(DatasetSpec('trivia', 'a test set', row, gold_format='number'))\n"
    )
    (tmp_path / "trivia").mkdir()
    (tmp_path / "trivia" / "test.jsonl").write_text('{"q": "2+2?", "a": "4"}\n')
    from hawkeye_bench.datasets.registry import DATASETS

    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("trivia_numbers")
    try:
        problems = load_problems("trivia", data_dir=tmp_path)
        assert [(p.id, p.gold) for p in problems] == [("trivia/0", "4")]
        from hawkeye_bench.grading.workers import grade

        assert grade("so \\boxed{4}", "4", "trivia").correct
        assert gold_format_of("trivia") == "number"
    finally:
        DATASETS.pop("trivia")  # the registry is the process's: leave it as it was


def test_ids_follow_the_documented_scheme(data_dir: Path) -> None:
    assert load_problems("gsm8k", data_dir=data_dir, limit=2)[1].id == "gsm8k/1"
    assert load_problems("math", data_dir=data_dir, limit=1)[0].id == "math/0"
    assert load_problems("math500", data_dir=data_dir, limit=1)[0].id == "test/precalculus/807.json"
    assert load_problems("aime24", data_dir=data_dir, limit=1)[0].id == "aime24/60"
    assert load_problems("aime25", data_dir=data_dir)[-1].id == "aime25/30"


def test_gsm8k_gold_is_a_plain_number(data_dir: Path) -> None:
    problems = load_problems("gsm8k", data_dir=data_dir)
    assert problems[0].gold == "18"
    assert all(re.fullmatch(r"-?\d+(\.\d+)?", p.gold) for p in problems), "commas/$ left in gold"
    raw = [json.loads(line)["answer"] for line in (data_dir / "gsm8k/test.jsonl").open()]
    with_commas = [i for i, answer in enumerate(raw) if "," in answer.rsplit("####", 1)[1]]
    assert with_commas, "mirror should contain thousands separators in some finals"
    for index in with_commas:
        expected = raw[index].rsplit("####", 1)[1].strip().replace(",", "")
        assert problems[index].gold == expected


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("So $18.\n#### 18", "18"),
        ("x\n#### 1,450,000", "1450000"),
        ("#### $5.", "5"),
        ("#### -3", "-3"),
    ],
)
def test_gsm8k_gold_normalisation(answer: str, gold: str) -> None:
    assert gsm8k_gold(answer) == gold


def test_gsm8k_gold_without_marker_is_an_error() -> None:
    with pytest.raises(ValueError, match="####"):
        gsm8k_gold("no marker here")


def test_aime_gold_strips_zero_padding(data_dir: Path) -> None:
    raw = {
        json.loads(line)["id"]: json.loads(line)["answer"]
        for line in (data_dir / "aime24/test.jsonl").open()
    }
    padded = {key: value for key, value in raw.items() if value.startswith("0")}
    assert padded, "the 2024 mirror has zero-padded answers"
    golds = {p.id: p.gold for p in load_problems("aime", data_dir=data_dir)}
    for key, value in padded.items():
        assert golds[f"aime24/{key}"] == str(int(value))
    assert all(re.fullmatch(r"0|[1-9]\d{0,2}", g) for g in golds.values())
    assert aime_gold("025") == "25" and aime_gold(70) == "70"


def test_math_gold_matches_math500_answers(data_dir: Path) -> None:
    """MATH-500 is a subset of MATH with a separate `answer`: brace matching must agree with it."""
    math_by_question = {p.question: p for p in load_problems("math", data_dir=data_dir)}
    math500 = load_problems("math500", data_dir=data_dir)
    assert all(p.question in math_by_question for p in math500)
    mismatched = [p.id for p in math500 if math_by_question[p.question].gold != p.gold]
    assert mismatched == []


def test_math_metadata(data_dir: Path) -> None:
    problems = load_problems("math", data_dir=data_dir)
    assert {p.metadata["level"] for p in problems} == {1, 2, 3, 4, 5}
    assert len({p.metadata["subject"] for p in problems}) == 7
    first = load_problems("math500", data_dir=data_dir, limit=1)[0]
    assert first.metadata == {"level": 2, "subject": "Precalculus"}
    aime25 = load_problems("aime25", data_dir=data_dir, limit=1)[0]
    assert aime25.metadata["competition"] == "aime_2025_I"
    assert (
        load_problems("aime24", data_dir=data_dir, limit=1)[0]
        .metadata["url"]
        .startswith("https://")
    )


@pytest.mark.parametrize(
    ("text", "content"),
    [
        (r"so $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
        (r"\boxed{1} then \boxed{\{1,2\}}", r"\{1,2\}"),
        (r"or $\fbox{204}$ minutes", "204"),
        (r"\framebox{7}", "7"),
        (r"\boxed 5$", "5"),
        (r"\boxed{\left( 3, \frac{\pi}{2} \right)}", r"\left( 3, \frac{\pi}{2} \right)"),
        ("no box", None),
        (r"\boxed{unbalanced", None),
    ],
)
def test_last_boxed_content(text: str, content: str | None) -> None:
    assert last_boxed_content(text) == content


def test_limit_and_subjects(data_dir: Path) -> None:
    assert len(load_problems("math", data_dir=data_dir, limit=7)) == 7
    geometry = load_problems("math500", data_dir=data_dir, subjects=["geometry"])
    assert len(geometry) == 41 and {p.metadata["subject"] for p in geometry} == {"Geometry"}
    with pytest.raises(DatasetError, match="limit"):
        load_problems("gsm8k", data_dir=data_dir, limit=-1)


def test_env_var_selects_the_mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k/test.jsonl").write_text(
        json.dumps({"question": "1+1?", "answer": "2\n#### 2"}) + "\n\n", encoding="utf-8"
    )
    monkeypatch.setenv("HAWKEYE_DATA_DIR", str(tmp_path))
    problems = load_problems("gsm8k")
    assert [(p.id, p.gold) for p in problems] == [("gsm8k/0", "2")]


def test_unknown_dataset_lists_valid_names() -> None:
    with pytest.raises(DatasetError) as excinfo:
        load_problems("mathh")
    message = str(excinfo.value)
    assert "'mathh'" in message
    assert all(name in message for name in EXPECTED_COUNTS)


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "gsm8k").mkdir()
    path = tmp_path / "gsm8k/test.jsonl"
    good = json.dumps({"question": "q", "answer": "#### 1"})
    path.write_text(f"{good}\n{good}\n{{not json\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"{re.escape(str(path))}:3: malformed JSON"):
        load_problems("gsm8k", data_dir=tmp_path)


def test_row_missing_a_field_names_file_and_row(tmp_path: Path) -> None:
    (tmp_path / "math500").mkdir()
    path = tmp_path / "math500/test.jsonl"
    path.write_text(json.dumps({"problem": "p", "answer": "1"}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"test\.jsonl:1: .*unique_id"):
        load_problems("math500", data_dir=tmp_path)


def test_missing_mirror_file_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as excinfo:
        load_problems("aime", data_dir=tmp_path)
    message = str(excinfo.value)
    assert str(tmp_path / "aime24" / "test.jsonl") in message
    assert "HAWKEYE_DATA_DIR" in message


def test_fingerprint_of_mirror_files(data_dir: Path) -> None:
    for name, sha in MANIFEST_SHA256.items():
        fingerprint = dataset_fingerprint(name, data_dir)
        assert fingerprint["source"] == "mirror"
        assert fingerprint["files"][0]["sha256"] == sha
    both = dataset_fingerprint("aime", data_dir)
    assert [f["name"] for f in both["files"]] == ["aime24", "aime25"]
    assert both["files"][0]["path"].endswith("aime24/test.jsonl")


def test_fingerprint_of_hub_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAWKEYE_DATA_DIR", raising=False)
    fingerprint = dataset_fingerprint("gsm8k")
    assert fingerprint["source"] == "hub"
    assert fingerprint["hub"][0]["path"] == "openai/gsm8k"
    assert fingerprint["hub"][0]["config"] == "main"


def test_hub_path_normalises_rows_like_the_mirror(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    """No internet here: stand in for `datasets.load_dataset` with the mirror's real rows and
    check the hub path asks for the MANIFEST ids and yields the same Problems."""
    calls = []

    def fake_load_dataset(path, name=None, *, split, revision=None):
        calls.append((path, name, split))
        folder = {"HuggingFaceH4/aime_2024": "aime24", "MathArena/aime_2025": "aime25"}[path]
        return [json.loads(line) for line in (data_dir / folder / "test.jsonl").open()]

    monkeypatch.setitem(
        sys.modules, "datasets", types.SimpleNamespace(load_dataset=fake_load_dataset)
    )
    monkeypatch.delenv("HAWKEYE_DATA_DIR", raising=False)
    from_hub = load_problems("aime")
    assert calls == [
        ("HuggingFaceH4/aime_2024", None, "train"),
        ("MathArena/aime_2025", None, "train"),
    ]
    assert from_hub == load_problems("aime", data_dir=data_dir)


def test_hub_failure_is_a_dataset_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    monkeypatch.delenv("HAWKEYE_DATA_DIR", raising=False)
    with pytest.raises(DatasetError, match=r"HuggingFaceH4/MATH-500.*HAWKEYE_DATA_DIR"):
        load_problems("math500")


def test_specs_cover_the_manifest_hub_ids() -> None:
    specs = {name: get_spec(name) for name in dataset_names()}
    hub = {name: spec.hub for name, spec in specs.items() if spec.hub}
    assert hub["math"].path == "DigitalLearningGmbH/MATH-lighteval" and hub["math"].split == "test"
    assert hub["math500"].path == "HuggingFaceH4/MATH-500"
    assert (hub["gsm8k"].path, hub["gsm8k"].config, hub["gsm8k"].split) == (
        "openai/gsm8k",
        "main",
        "test",
    )
