"""Judge replies -> scores or typed failures; prompts, schema and request parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hawkeye_bench.core.secrets import redact
from hawkeye_bench.judging.client import ChatReply, request_params
from hawkeye_bench.judging.config import JudgeSpec, load_criteria
from hawkeye_bench.judging.parsing import parse_reply
from hawkeye_bench.judging.prompts import AnswerView, score_schema, single_messages

JUDGES_DIR = Path(__file__).resolve().parent.parent / "judges"
CRITERIA = load_criteria(JUDGES_DIR, ["clarity", "conciseness"])
GOOD = {
    "clarity": {"explanation": "clear", "score": 8},
    "conciseness": {"explanation": "short", "score": 9},
}


def reply(text: str | None, finish: str = "stop", refusal: str | None = None) -> ChatReply:
    return ChatReply(text=text, finish_reason=finish, refusal=refusal)


def test_strict_json_parses_to_scores_and_explanations() -> None:
    parsed = parse_reply(reply(json.dumps(GOOD)), CRITERIA)
    assert parsed.status == "ok"
    assert parsed.values == {"clarity": 8, "conciseness": 9}
    assert parsed.explanations == {"clarity": "clear", "conciseness": "short"}


def test_tolerant_parse_fences_prose_case_and_string_scores() -> None:
    text = (
        'Here is my rating.\n```json\n{"Clarity": {"explanation": "ok", "score": "7"}, '
        '"CONCISENESS": {"explanation": "ok", "score": 3}}\n```\nHope this helps {not json}'
    )
    parsed = parse_reply(reply(text), CRITERIA)
    assert parsed.status == "ok" and parsed.values == {"clarity": 7, "conciseness": 3}


def test_the_last_json_object_in_the_text_wins() -> None:
    first = {"clarity": {"explanation": "draft", "score": 2}, "conciseness": {"score": 2}}
    text = f"Draft: {json.dumps(first)}\nFinal: {json.dumps(GOOD)}"
    assert parse_reply(reply(text), CRITERIA).values == {"clarity": 8, "conciseness": 9}


@pytest.mark.parametrize(
    ("clarity_score", "fragment"),
    [(11, "less than or equal to 10"), (0, "greater than or equal to 1"), (7.5, "integer")],
)
def test_out_of_scale_or_fractional_scores_are_parse_errors(
    clarity_score: float, fragment: str
) -> None:
    data = {**GOOD, "clarity": {"explanation": "x", "score": clarity_score}}
    parsed = parse_reply(reply(json.dumps(data)), CRITERIA)
    assert parsed.status == "parse_error" and parsed.values is None
    assert "clarity.score" in parsed.error and fragment in parsed.error


def test_a_missing_criterion_is_a_parse_error_naming_it() -> None:
    parsed = parse_reply(reply(json.dumps({"clarity": GOOD["clarity"]})), CRITERIA)
    assert parsed.status == "parse_error" and "conciseness" in parsed.error


def test_refusals_truncation_and_garbage_are_typed_failures_never_scores() -> None:
    cases = {
        "refusal": reply(None, refusal="I can't help with that."),
        "refusal_filter": reply(json.dumps(GOOD), finish="content_filter"),
        "truncated": reply('{"clarity": {"explanation": "the answer is cl', finish="length"),
        "empty": reply(""),
        "prose": reply("I would rate clarity 8/10 and conciseness 9/10."),
    }
    statuses = {name: parse_reply(r, CRITERIA) for name, r in cases.items()}
    assert statuses["refusal"].status == "refusal"
    assert statuses["refusal_filter"].status == "refusal"
    assert statuses["truncated"].status == "truncated"
    assert statuses["empty"].status == "parse_error"
    assert statuses["prose"].status == "parse_error"  # no regex fishing for numbers in prose
    assert all(p.values is None for p in statuses.values())


def test_pairwise_verdicts_accept_common_spellings() -> None:
    data = {
        "clarity": {"explanation": "", "verdict": "a"},
        "conciseness": {"explanation": "", "verdict": "[[C]]"},
    }
    parsed = parse_reply(reply(json.dumps(data)), CRITERIA, leaf="verdict")
    assert parsed.values == {"clarity": "A", "conciseness": "tie"}
    bad = {**data, "clarity": {"verdict": "both"}}
    assert parse_reply(reply(json.dumps(bad)), CRITERIA, leaf="verdict").status == "parse_error"


def test_schema_is_strict_with_explanation_before_score() -> None:
    schema = score_schema(CRITERIA, explanation_max_chars=50)
    assert schema["required"] == ["clarity", "conciseness"]
    assert schema["additionalProperties"] is False
    item = schema["properties"]["clarity"]
    assert list(item["properties"]) == ["explanation", "score"] == item["required"]
    assert item["additionalProperties"] is False
    assert item["properties"]["score"]["enum"] == list(range(1, 11))
    assert item["properties"]["explanation"]["maxLength"] == 50


def test_messages_show_reference_and_reasoning_only_when_asked() -> None:
    plain = single_messages(CRITERIA, AnswerView("What is 2+3?", "5"))
    assert plain[0]["role"] == "system" and "clarity" in plain[0]["content"]
    assert "Reference" not in plain[1]["content"] and "reasoning" not in plain[1]["content"]
    full = single_messages(
        CRITERIA, AnswerView("What is 2+3?", "5", reference="5", reasoning="2 plus 3")
    )
    assert "## Reference answer\n5" in full[1]["content"]
    assert "before its answer\n2 plus 3" in full[1]["content"]
    assert plain[0] == full[0]  # the static part is identical: provider prompt caching applies


def _spec(structured: str, **extra: object) -> JudgeSpec:
    return JudgeSpec.model_validate(
        {
            "name": "j",
            "provider": "p",
            "base_url": "http://x/v1",
            "model": "m",
            "capabilities": {
                "structured_output": structured,
                "seed": True,
                "temperature": {"min": 0.2, "max": 1.0},
                **extra,
            },
        }
    )


def test_request_params_follow_the_capability_block() -> None:
    schema = score_schema(CRITERIA)
    strict = request_params(_spec("json_schema"), schema)
    assert strict["response_format"]["type"] == "json_schema"
    assert strict["response_format"]["json_schema"]["strict"] is True
    assert strict["temperature"] == 0.2  # 0 clipped to the provider's minimum
    assert strict["seed"] == 0 and strict["max_tokens"] == 1024
    llama = request_params(_spec("json_object_schema"), schema)
    assert llama["response_format"] == {"type": "json_object", "schema": schema}
    prompt_only = request_params(_spec("prompt", token_limit_param="max_completion_tokens"), schema)
    assert "response_format" not in prompt_only
    assert prompt_only["max_completion_tokens"] == 1024 and "max_tokens" not in prompt_only


def test_redact_removes_keys_from_provider_messages() -> None:
    message = "Incorrect API key provided: sk-proj-abc***wxyz. Also xai-ABCDEF123 and MYKEY9"
    cleaned = redact(message, ("MYKEY9",))
    assert "sk-proj" not in cleaned and "xai-ABC" not in cleaned and "MYKEY9" not in cleaned
    assert cleaned.count("[redacted]") == 3


def test_a_boolean_score_is_a_parse_error_not_one() -> None:
    data = {**GOOD, "clarity": {"explanation": "yes", "score": True}}
    parsed = parse_reply(reply(json.dumps(data)), CRITERIA)
    assert parsed.status == "parse_error" and parsed.values is None
    assert "clarity.score" in parsed.error and "boolean" in parsed.error


def test_a_refusal_quoting_an_example_json_is_a_refusal_not_a_score() -> None:
    example = {c.name: {"explanation": "...", "score": 5} for c in CRITERIA}
    text = (
        "I'm sorry, but I can't evaluate this answer. A valid reply would look like "
        f"{json.dumps(example)}, but I will not produce one."
    )
    parsed = parse_reply(reply(text), CRITERIA)
    assert parsed.status == "refusal" and parsed.values is None
    plain = parse_reply(reply("I'm unable to rate this answer."), CRITERIA)
    assert plain.status == "refusal" and plain.values is None


@pytest.mark.parametrize("intro", ["for example:", "e.g.", "such as\n```json\n"])
def test_a_json_object_introduced_as_an_example_is_not_a_verdict(intro: str) -> None:
    example = {c.name: {"explanation": "...", "score": 5} for c in CRITERIA}
    text = f"You should reply with a JSON object, {intro} {json.dumps(example)}"
    parsed = parse_reply(reply(text), CRITERIA)
    assert parsed.status == "parse_error" and parsed.values is None
    assert "example" in parsed.error


def test_only_the_last_json_object_in_prose_is_considered() -> None:
    text = f'My rating: {json.dumps(GOOD)}\nFor reference the schema was {{"type": "object"}}'
    parsed = parse_reply(reply(text), CRITERIA)
    assert parsed.status == "parse_error" and parsed.values is None


def test_a_whole_json_reply_is_not_searched_for_refusal_words() -> None:
    data = {
        "clarity": {"explanation": "I can't find a single unclear step.", "score": 9},
        "conciseness": {"explanation": "Sorry to say it repeats itself.", "score": 4},
    }
    fenced = f"```json\n{json.dumps(data, indent=2)}\n```"
    for text in (json.dumps(data), fenced):
        parsed = parse_reply(reply(text), CRITERIA)
        assert parsed.status == "ok" and parsed.values == {"clarity": 9, "conciseness": 4}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[" * 40_000 + "]" * 40_000, "nested more than"),  # RecursionError in json
        ('{"clarity": {"score": ' + "9" * 5000 + "}}", "5000 digits"),  # int() refuses
        ("{" * 200_000, "characters"),  # was 8 s of CPU: a failed try per brace
        ("Verdict: " + json.dumps(GOOD) + " " + '{"a" ]' * 1500, "places where an object"),
    ],
)
def test_a_reply_beyond_the_parsed_bounds_is_a_parse_error(text: str, why: str) -> None:
    parsed = parse_reply(reply(text), CRITERIA)
    assert parsed.status == "parse_error" and parsed.values is None
    assert parsed.error is not None and why in parsed.error
    assert parse_reply(reply(text, finish="length"), CRITERIA).status == "truncated"


def test_stray_braces_in_prose_before_the_verdict_are_skipped_in_linear_time() -> None:
    """LaTeX in an explanation: many ``{`` that start no object, then the verdict."""
    prose = r"The answer \frac{1}{2} is right. " * 2000
    parsed = parse_reply(reply(prose + json.dumps(GOOD)), CRITERIA)
    assert parsed.status == "ok" and parsed.values == {"clarity": 8, "conciseness": 9}
