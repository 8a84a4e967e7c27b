"""The dataset fingerprint (the manifest's ``dataset``) round-trips through its JSON form, the
JSON earlier versions wrote still loads, and its identity drops only the mirror paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hawkeye_bench.datasets.fingerprint import DatasetFingerprint, HubEntry, MirrorFile, fingerprint


def test_a_mirror_fingerprint_round_trips(tmp_path: Path) -> None:
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text('{"question": "q", "answer": "#### 1"}\n')
    found = fingerprint("gsm8k", tmp_path)
    assert found.source == "mirror" and found.files[0].name == "gsm8k"
    again = DatasetFingerprint.from_json(json.loads(json.dumps(found.to_json())))
    assert again == found
    assert found.identity_json() == {
        "dataset": "gsm8k",
        "source": "mirror",
        "files": [{"name": "gsm8k", "sha256": found.files[0].sha256}],
    }


def test_a_hub_fingerprint_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAWKEYE_DATA_DIR", raising=False)
    found = fingerprint("aime")
    assert [h.name for h in found.hub] == ["aime24", "aime25"]
    assert DatasetFingerprint.from_json(json.loads(json.dumps(found.to_json()))) == found
    assert found.identity_json() == found.to_json()


def test_what_earlier_versions_wrote_still_loads() -> None:
    mirror = {
        "dataset": "aime",
        "source": "mirror",
        "files": [
            {"name": "aime24", "path": "/d/aime24/test.jsonl", "sha256": "a"},
            {"name": "aime25", "path": "/d/aime25/test.jsonl", "sha256": "b"},
        ],
    }
    loaded = DatasetFingerprint.from_json(mirror)
    assert loaded.files[1] == MirrorFile("aime25", "/d/aime25/test.jsonl", "b")
    assert loaded.to_json() == mirror
    hub = {
        "dataset": "gsm8k",
        "source": "hub",
        "hub": [
            {"name": "gsm8k", "path": "openai/gsm8k", "config": "main", "split": "test",
             "revision": "main (unpinned)"}
        ],
    }  # fmt: skip
    loaded = DatasetFingerprint.from_json(hub)
    assert loaded.hub == (HubEntry("gsm8k", "openai/gsm8k", "main", "test", "main (unpinned)"),)
    assert loaded.to_json() == hub
