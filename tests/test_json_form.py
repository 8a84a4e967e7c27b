"""core.json_form: what a JsonPayload writes, what reading tolerates and what it refuses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from hawkeye_bench.core.json_form import JsonFormError, JsonPayload, dump, load


@dataclass
class Part(JsonPayload):
    OMITTED_WHEN_NONE = frozenset({"note"})

    count: int = 0
    value: int | float = 0
    note: str | None = None


@dataclass(frozen=True)
class Whole(JsonPayload):
    name: str
    part: Part = field(default_factory=Part)
    parts: list[Part] = field(default_factory=list)
    tags: tuple[str, ...] = ()
    by_name: dict[str, float] = field(default_factory=dict)


def _through_json(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data))


def test_a_payload_round_trips_through_json() -> None:
    whole = Whole("w", Part(1, 2.5, "n"), [Part(2), Part(3, 4)], ("a", "b"), {"x": 0.5})
    assert Whole.from_json(_through_json(whole.to_json())) == whole


def test_the_json_is_the_fields_in_order_nested_as_objects() -> None:
    whole = Whole("w", Part(1, 2.5, "n"), [Part(2)], ("a",))
    assert list(whole.to_json()) == ["name", "part", "parts", "tags", "by_name"]
    assert whole.to_json()["part"] == {"count": 1, "value": 2.5, "note": "n"}
    assert whole.to_json()["tags"] == ["a"]
    assert dump(whole) == whole.to_json()


def test_a_field_omitted_when_none_is_left_out_wherever_it_sits() -> None:
    assert Part(1).to_json() == {"count": 1, "value": 0}
    assert Whole("w", parts=[Part(2)]).to_json()["parts"] == [{"count": 2, "value": 0}]
    assert Part.from_json({"count": 1}).note is None


def test_missing_fields_get_their_defaults() -> None:
    assert Whole.from_json({"name": "w"}) == Whole("w")
    assert Whole.from_json({"name": "w", "part": {}}).part == Part()


def test_unknown_keys_are_dropped() -> None:
    whole = Whole.from_json({"name": "w", "later": 1, "part": {"count": 2, "new": "x"}})
    assert whole == Whole("w", Part(2))
    assert "later" not in whole.to_json()


def test_numbers_keep_their_kind() -> None:
    assert Part.from_json({"value": 3}).to_json()["value"] == 3
    assert isinstance(Part.from_json({"value": 3}).value, int)
    assert isinstance(Part.from_json({"value": 3.0}).value, float)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"name": "w", "part": {"count": "many"}}, "part.count"),
        ({"name": "w", "parts": 3}, "parts"),
        ({"name": "w", "parts": [{}, {"value": "x"}]}, "parts.1.value"),
        ({"part": {}}, "name"),
        ("not an object", "(the whole object)"),
    ],
)
def test_what_cannot_be_the_payload_is_one_line_naming_the_field(data: Any, where: str) -> None:
    with pytest.raises(JsonFormError) as caught:
        Whole.from_json(data)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert "\n" not in message
    assert message.startswith("not a Whole: ")
    assert where in message
    assert "errors.pydantic.dev" not in message


def test_load_and_dump_take_a_plain_dataclass() -> None:
    @dataclass
    class Plain:
        a: int = 1

    assert dump(Plain(2)) == {"a": 2}
    assert load(Plain, {"a": 3, "b": 4}) == Plain(3)
    with pytest.raises(JsonFormError, match="not a Plain: a: "):
        load(Plain, {"a": []})
