"""What pins the data a run used: :class:`DatasetFingerprint` (mirror files with their sha256,
or hub ids), recorded in the run's manifest; its :meth:`~DatasetFingerprint.identity_json` is
the part a resume must match (the bytes, not where the mirror lives)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from hawkeye_bench.datasets.loaders import existing_mirror_file, resolve_data_dir
from hawkeye_bench.datasets.registry import get_spec

#: a hub source without a revision is whatever the hub serves today
UNPINNED = "main (unpinned)"


@dataclass(frozen=True)
class MirrorFile:
    name: str  # the dataset (a part of ``aime``: ``aime24``)
    path: str
    sha256: str


@dataclass(frozen=True)
class HubEntry:
    name: str
    path: str
    config: str | None
    split: str
    revision: str


@dataclass(frozen=True)
class DatasetFingerprint:
    """A dataset as loaded: from a local mirror (``files``) or the hub (``hub``)."""

    dataset: str
    source: Literal["mirror", "hub"]
    files: tuple[MirrorFile, ...] = ()
    hub: tuple[HubEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        if self.source == "mirror":
            files = [asdict(f) for f in self.files]
            return {"dataset": self.dataset, "source": self.source, "files": files}
        return {
            "dataset": self.dataset,
            "source": self.source,
            "hub": [asdict(h) for h in self.hub],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetFingerprint:
        return cls(
            dataset=str(data.get("dataset") or ""),
            source="hub" if data.get("source") == "hub" else "mirror",
            files=tuple(
                MirrorFile(str(f.get("name")), str(f.get("path") or ""), str(f.get("sha256")))
                for f in data.get("files") or []
            ),
            hub=tuple(
                HubEntry(
                    name=str(h.get("name")),
                    path=str(h.get("path")),
                    config=h.get("config"),
                    split=str(h.get("split")),
                    revision=str(h.get("revision") or UNPINNED),
                )
                for h in data.get("hub") or []
            ),
        )

    def identity_json(self) -> dict[str, Any]:
        """The JSON form without the mirror files' paths: what a resumed run must match."""
        data = self.to_json()
        if self.source == "mirror":
            data["files"] = [{"name": f.name, "sha256": f.sha256} for f in self.files]
        return data


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(name: str, data_dir: str | os.PathLike[str] | None = None) -> DatasetFingerprint:
    """The fingerprint of dataset ``name`` as it would load now (mirror files are hashed)."""
    spec = get_spec(name)
    root = resolve_data_dir(data_dir)
    if root is not None:
        files = []
        for leaf in spec.leaves():
            path = existing_mirror_file(root, leaf.name)
            files.append(MirrorFile(leaf.name, str(path.resolve()), sha256_file(path)))
        return DatasetFingerprint(name, "mirror", files=tuple(files))
    hub = []
    for leaf in spec.leaves():
        assert leaf.hub is not None
        source = leaf.hub
        revision = source.revision or UNPINNED
        hub.append(HubEntry(leaf.name, source.path, source.config, source.split, revision))
    return DatasetFingerprint(name, "hub", hub=tuple(hub))


def dataset_fingerprint(
    name: str, data_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """:func:`fingerprint` in its JSON form (what a run manifest records)."""
    return fingerprint(name, data_dir).to_json()
