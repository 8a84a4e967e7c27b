"""Prompt presets: upstream prompts reproduced exactly, user presets without code."""

from __future__ import annotations

from pathlib import Path

import pytest

from hawkeye_bench.presets import PresetError, StagePrompt, load_preset, preset_names

UPSTREAM_GSM8K_A = (
    "Question: {question}. Please generate a concise chain-of-thought reasoning without "
    "repeating the question.\n"
)
UPSTREAM_GSM8K_B = (
    "Question: {question}\nCot: {cot}\nThis is a chain-of-thought that helps you answer.\n"
    "So the answer is:\n"
)


def test_builtin_presets_are_listed_and_load() -> None:
    names = preset_names()
    for name in ("default", "upstream-gsm8k", "upstream-math500", "upstream-math500-bytes"):
        assert name in names
        preset = load_preset(name)
        assert set(preset.stages) == {"reasoner", "responder", "single"}


def test_upstream_gsm8k_prompts_and_sampling_are_exact() -> None:
    preset = load_preset("upstream-gsm8k")
    assert preset.stage("reasoner").template == UPSTREAM_GSM8K_A
    assert preset.stage("responder").template == UPSTREAM_GSM8K_B
    assert preset.stage("single").template == "Question: {question}."
    assert [preset.stage(r).max_tokens for r in ("reasoner", "responder", "single")] == [
        1024,
        512,
        1024,
    ]
    assert {preset.stage(r).temperature for r in preset.stages} == {0.7}
    assert {preset.stage(r).top_p for r in preset.stages} == {0.9}
    assert preset.stage2_input == "full"  # upstream passes A's whole output to B


def test_upstream_math500_keeps_indentation_think_tag_and_raw_api() -> None:
    preset = load_preset("upstream-math500")
    a = preset.stage("reasoner").render("What is 1+1?")
    assert a.endswith("\n        Problem:\n        What is 1+1?\n        \n        <think>")
    assert preset.stage("reasoner").api == "completion"
    b = preset.stage("responder").render("Q?", cot="some steps")
    assert "\\(\\boxed{ANSWER}\\)" in b
    assert "\x08" not in b
    assert b.endswith(
        "Reasoning:\n        <think>\n        some steps\n        \n        Final Answer:"
    )
    assert preset.stage("reasoner").temperature == 0.6


def test_byte_exact_variant_has_the_backspace_bug() -> None:
    b = load_preset("upstream-math500-bytes").stage("responder").template
    assert "\\(\x08oxed{ANSWER}\\)" in b


def test_render_substitutes_only_known_fields() -> None:
    stage = load_preset("default").stage("responder")
    text = stage.render("Find $x^{2}$.", cot="x = {3}")
    assert "Find $x^{2}$." in text and "x = {3}" in text
    assert "\\boxed{}" in text
    assert "{question}" not in text and "{cot}" not in text


def test_unknown_preset_lists_valid_names() -> None:
    with pytest.raises(PresetError, match=r"unknown preset 'nope'; valid: .*upstream-gsm8k"):
        load_preset("nope")


def test_placeholders_inside_substituted_text_are_left_alone() -> None:
    # B6: `\operatorname{cot}` holds "{cot}"; sequential replacing put the CoT inside the question
    stage = StagePrompt(template="Q: {question}\nP: {problem}\nC: {cot}")
    question = "Simplify $\\operatorname{cot}(x) \\cdot \\tan(x)$."
    cot = "Restate {question} and {problem}; cot is {cot}."
    assert stage.render(question, cot=cot) == f"Q: {question}\nP: {question}\nC: {cot}"


@pytest.mark.parametrize(
    "value", ["no/such/dir/mine.yaml", "missing.yaml", "missing.yml", "./mine", "sub/dir/mine"]
)
def test_missing_preset_path_says_the_file_does_not_exist(value: str) -> None:
    with pytest.raises(PresetError) as info:
        load_preset(value)
    assert str(info.value) == f"preset file {value} does not exist"


def test_preset_path_without_yaml_suffix_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.preset"
    path.write_text("stages:\n  single:\n    template: 'Q: {question}'\n")
    assert load_preset(str(path)).stage("single").render("1+1") == "Q: 1+1"


def test_user_preset_by_path_and_by_folder(tmp_path: Path, monkeypatch) -> None:
    body = "name: mine\nstages:\n  single:\n    template: 'Q: {question}'\n    max_tokens: 7\n"
    path = tmp_path / "mine.yaml"
    path.write_text(body)
    assert load_preset(str(path)).stage("single").max_tokens == 7
    monkeypatch.setenv("HAWKEYE_PRESETS_DIR", str(tmp_path))
    assert "mine" in preset_names()
    assert load_preset("mine").stage("single").render("2+2") == "Q: 2+2"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("stages: {judge: {template: x}}", "unknown stages"),
        ("stages: {single: {max_tokens: 3}}", "needs a 'template'"),
        ("stages: {single: {template: x, api: grpc}}", "api must be"),
        ("stages: {single: {template: x, tempreature: 1}}", "unknown keys"),
        ("stage2_input: all\nstages: {single: {template: x}}", "stage2_input"),
        ("stages: [", "not valid YAML"),
    ],
)
def test_malformed_presets_say_what_is_wrong(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(PresetError, match=message):
        load_preset(str(path))


def test_overrides_apply_to_every_stage() -> None:
    preset = load_preset("default").with_overrides(max_tokens=32, temperature=None)
    assert {s.max_tokens for s in preset.stages.values()} == {32}
    assert preset.stage("single").temperature == 0.6
