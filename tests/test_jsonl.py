"""The JSON Lines layer: flushed appends, torn last lines, errors naming file:line, rewrites."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.jsonl import JsonlError, JsonlWriter, read_jsonl, rewrite_jsonl


def test_each_line_is_flushed_and_readable_while_the_writer_is_open(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "x.jsonl"  # parent folders are created
    with JsonlWriter(path) as writer:
        assert path.is_file() and path.stat().st_size == 0
        writer.write({"a": 1, "text": "é"})
        assert read_jsonl(path).rows == [{"a": 1, "text": "é"}]
        writer.write({"a": 2})
        assert [row["a"] for row in read_jsonl(path)] == [1, 2]
        assert writer.lines == 2
    assert path.read_text(encoding="utf-8").endswith("\n")


def test_writer_opens_on_first_write_and_again_after_close(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    writer = JsonlWriter(path, fsync=True, default=str)
    assert not path.exists()  # no empty file until something is written
    writer.write({"path": Path("/p")})
    writer.close()
    writer.write({"a": 2})
    writer.close()
    assert read_jsonl(path).rows == [{"path": "/p"}, {"a": 2}]


def test_threads_sharing_a_writer_write_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    writer = JsonlWriter(path)

    def work(n: int) -> None:
        for i in range(200):
            writer.write({"thread": n, "i": i, "pad": "x" * 500})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert len(read_jsonl(path, tolerate_torn_tail=False)) == 800


def test_lone_surrogate_is_escaped_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    with JsonlWriter(path) as writer:
        writer.write({"text": "a\ud800b"})
    assert read_jsonl(path).rows == [{"text": "a\ud800b"}]


def test_torn_last_line_is_dropped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3, "b')
    read = read_jsonl(path)
    assert (read.rows, read.line_numbers, read.torn) == ([{"a": 1}, {"a": 2}], [1, 3], 1)
    assert list(read.numbered()) == [(1, {"a": 1}), (3, {"a": 2})]
    assert path.read_text().endswith('"b')  # not repaired unless asked
    path.write_text('{"a": 1}\n{"a": 2}')  # complete, only the newline is missing: kept
    assert read_jsonl(path).torn == 0 and len(read_jsonl(path)) == 2
    path.write_text('{"a": 1}\n{"a": 3, "b')
    with pytest.raises(JsonlError, match=r"x\.jsonl:2: malformed JSON"):
        read_jsonl(path, tolerate_torn_tail=False)


def test_torn_last_line_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes('{"a": 1}\n\n{"a": "é'.encode()[:-1])  # cut inside a UTF-8 character
    read = read_jsonl(path, repair=True)
    assert (read.rows, read.torn) == ([{"a": 1}], 1)
    assert path.read_text() == '{"a": 1}\n\n'
    assert read_jsonl(path, repair=True).torn == 0


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ('{"a": 1}\nnot json\n{"a": 3}\n', 2, "malformed JSON"),
        ('{"a": 1}\n{"a": \n', 2, "malformed JSON"),  # last but terminated: written whole
        ('{"a": 1}\n\n\n[1, 2]\n{"a": 3}\n', 4, "expected a JSON object per line"),
        ('{"a": 1}\n[1, 2]', 2, "expected a JSON object per line"),  # parses: not torn
    ],
)
def test_bad_line_elsewhere_names_file_and_line(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(text)
    with pytest.raises(JsonlError) as caught:
        read_jsonl(path, repair=True)
    assert str(caught.value).startswith(f"{path}:{line}: {reason}")
    assert (caught.value.path, caught.value.line) == (path, line)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, HawkeyeError)
    assert path.read_text() == text  # an error repairs nothing


def test_bad_line_raises_the_callers_error_class(tmp_path: Path) -> None:
    class MyError(Exception):
        pass

    path = tmp_path / "x.jsonl"
    path.write_text("{}\nnope\n{}\n")
    with pytest.raises(MyError, match=r"x\.jsonl:2: malformed JSON"):
        read_jsonl(path, error=MyError)


def test_append_after_a_complete_line_without_newline_starts_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}')  # killed between the line and its newline
    with JsonlWriter(path) as writer:
        writer.write({"a": 3})
    assert writer.torn_dropped == 0
    assert path.read_text() == '{"a": 1}\n{"a": 2}\n{"a":3}\n'


def test_append_after_a_torn_line_cuts_it(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    long_line = '{"a": 1, "pad": "' + "x" * 200_000 + '"}\n'  # longer than a tail block
    path.write_text(long_line + '{"a": 2, "pad": "' + "y" * 150_000)
    with JsonlWriter(path) as writer:
        writer.write({"a": 3})
    assert writer.torn_dropped == 1
    assert [row["a"] for row in read_jsonl(path, tolerate_torn_tail=False)] == [1, 3]


def test_rewrite_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"old": 1}\n')
    assert rewrite_jsonl(path, [{"a": 1}, {"a": 2}]) == 2
    assert read_jsonl(path).rows == [{"a": 1}, {"a": 2}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jsonl"]  # no temporary file left

    def rows():
        yield {"b": 1}
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError):
        rewrite_jsonl(path, rows())
    assert read_jsonl(path).rows == [{"a": 1}, {"a": 2}]  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jsonl"]

    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        assert read_jsonl(Path(src)).rows == [{"c": 1}]  # complete before it takes the name
        assert read_jsonl(Path(dst)).rows == [{"a": 1}, {"a": 2}]
        replaced.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    rewrite_jsonl(path, [{"c": 1}])
    assert replaced and replaced[0][1] == str(path)
    assert read_jsonl(path).rows == [{"c": 1}]
