"""Panels and rubrics from judges/: the shipped files, and clear errors for bad ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hawkeye_bench.judging.config import (
    JudgeConfigError,
    available_criteria,
    load_criteria,
    load_panel,
    missing_key_variables,
)
from hawkeye_bench.judging.prompts import AnswerView, score_schema, single_messages

JUDGES_DIR = Path(__file__).resolve().parent.parent / "judges"


def test_default_panel_is_the_papers_three_judges() -> None:
    panel = load_panel(JUDGES_DIR, "default")
    by_name = {j.name: j for j in panel.judges}
    assert set(by_name) == {"gpt-4o", "claude-3.5-sonnet", "grok-3"}
    assert {j.api_key_env for j in panel.judges} == {
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "XAI_API_KEY",
    }
    claude = by_name["claude-3.5-sonnet"]
    assert claude.base_url == "https://api.anthropic.com/v1/"
    assert claude.capabilities.structured_output == "prompt"  # compat layer ignores schemas
    assert claude.capabilities.temperature.max == 1.0
    assert by_name["gpt-4o"].capabilities.structured_output == "json_schema"
    assert all(j.prices.input and j.prices.output for j in panel.judges)
    assert {j.family for j in panel.judges} == {"openai", "anthropic", "xai"}


def test_local_panel_uses_the_embedded_model_with_json_object_schema() -> None:
    panel = load_panel(JUDGES_DIR, "local")
    (judge,) = panel.judges
    assert judge.embedded and judge.api_key_env is None and panel.needs_local_server
    assert judge.capabilities.structured_output == "json_object_schema"


def test_all_five_radar_criteria_ship_with_a_1_to_10_scale() -> None:
    names = ["clarity", "coherence", "conciseness", "completeness", "correctness"]
    assert set(names) <= set(available_criteria(JUDGES_DIR))
    for criterion in load_criteria(JUDGES_DIR, names):
        assert (criterion.scale.min, criterion.scale.max) == (1, 10)
        assert len(criterion.rubric) > 100


def test_unknown_panel_and_criterion_list_the_choices() -> None:
    with pytest.raises(JudgeConfigError, match=r"unknown panel 'gpt5'.*choices: default, local"):
        load_panel(JUDGES_DIR, "gpt5")
    with pytest.raises(JudgeConfigError, match=r"unknown criterion 'wit'.*clarity"):
        load_criteria(JUDGES_DIR, ["clarity", "wit"])


def test_a_key_written_into_a_panel_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "panels").mkdir()
    bad = tmp_path / "panels" / "leaky.yaml"
    bad.write_text(
        "name: leaky\njudges:\n  - name: j\n    provider: p\n    base_url: http://x/v1\n"
        "    model: m\n    api_key: sk-123\n    limits: {concurrency: 0}\n"
    )
    with pytest.raises(JudgeConfigError) as info:
        load_panel(tmp_path, "leaky")
    message = str(info.value)
    assert str(bad) in message
    assert "judges.0.api_key" in message and "judges.0.limits.concurrency" in message


def test_missing_key_variables_names_the_unset_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    panel = load_panel(JUDGES_DIR, "default")
    monkeypatch.setenv("OPENAI_API_KEY", "set")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("XAI_API_KEY", "")
    assert missing_key_variables(panel) == ["ANTHROPIC_API_KEY", "XAI_API_KEY"]


def test_a_new_criterion_is_a_yaml_file_only(tmp_path: Path) -> None:
    shutil.copytree(JUDGES_DIR, tmp_path / "judges")
    (tmp_path / "judges" / "rubrics" / "rigor.yaml").write_text(
        "name: rigor\nversion: 2\nscale: {min: 1, max: 5}\nrubric: Every step justified.\n"
    )
    criteria = load_criteria(tmp_path / "judges", ["clarity", "rigor"])
    schema = score_schema(criteria)
    assert schema["properties"]["rigor"]["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    system = single_messages(criteria, AnswerView("q", "a"))[0]["content"]
    assert "### rigor (Rigor): integer score 1-5\nEvery step justified." in system


def test_a_rubric_or_panel_that_is_not_yaml_text_is_a_one_line_error(tmp_path: Path) -> None:
    shutil.copytree(JUDGES_DIR / "rubrics", tmp_path / "rubrics")
    (tmp_path / "rubrics" / "binary.yaml").write_bytes(b"\xff\xfe\x00rubric")
    with pytest.raises(JudgeConfigError, match=r"criterion file .*not a text file") as caught:
        load_criteria(tmp_path, ["binary"])
    assert "\n" not in str(caught.value)
    (tmp_path / "panels").mkdir()
    (tmp_path / "panels" / "bad.yaml").write_text("judges: [\n")
    with pytest.raises(JudgeConfigError, match=r"panel file .*not valid YAML: line") as caught:
        load_panel(tmp_path, "bad")
    assert "\n" not in str(caught.value)
