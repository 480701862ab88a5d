"""Merge shard folders (``sdmr-generate --shard i/k``) into one dataset.

Shards hold disjoint global image indices, so merging is copying files and uniting the split
files; a clash (the same image index in two shards) is an error, not an overwrite.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sdmr.data import layout as L
from sdmr.data.atomic import atomic_write_bytes
from sdmr.data.errors import DataError

IMAGE_FOLDERS = (L.DEPTH_DIR, L.DEPTH_NUMPY_DIR, L.MODAL_DIR, L.AMODAL_DIR, L.COLOR_DIR, L.BIN_DIR)


def _image_files(shard: Path) -> dict[int, list[Path]]:
    """Every per-image file of ``shard`` by image index: one listing per folder, not one per image."""
    files: dict[int, list[Path]] = {}
    for folder in IMAGE_FOLDERS:
        if not (shard / folder).is_dir():
            continue
        for src in (shard / folder).iterdir():
            index = L.parse_image_index(src)
            if index is not None and src.suffix and not src.name.startswith("."):  # not temp files
                files.setdefault(index, []).append(src)
    return files


def merge_shards(output: str | Path, shards: list[str | Path]) -> Path:
    """Copy every finalized shard's images into ``output`` and finalize the union."""
    output = Path(output)
    if not shards:
        raise DataError("no shard folders given", fix="sdmr-generate merge OUT SHARD_DIR [SHARD_DIR ...]")
    owner: dict[int, Path] = {}
    shard_files: dict[Path, dict[int, list[Path]]] = {}
    train, test, manifests = [], [], []
    for shard in map(Path, shards):
        manifest_path = shard / L.MANIFEST
        if not manifest_path.is_file():
            raise DataError(
                "shard is not finished (no manifest.json)", shard, "rerun its sdmr-generate --shard command"
            )
        manifests.append(L.read_json(manifest_path))
        train.append(L.load_index_file(L.index_file(shard, "train")))
        test.append(L.load_index_file(L.index_file(shard, "test")))
        shard_files[shard] = _image_files(shard)
        for index in sorted(L.indices_in(shard / L.META_DIR, (".json",))):
            if index in owner and owner[index] != shard:
                raise DataError(
                    f"image {index} is in shards {owner[index]} and {shard}",
                    shard,
                    "merge shards of one run (i/k with the same k)",
                )
            owner[index] = shard
    encodings = {m.get("depth", {}).get("png_encoding") for m in manifests}
    if len(encodings) != 1:
        raise DataError(
            f"shards use different depth encodings {encodings}", output, "regenerate with one config"
        )
    from sdmr.data.lock import FolderLock

    with FolderLock(output, "sdmr-generate merge"):
        return _copy_and_finalize(output, shards, owner, shard_files, train, test, manifests, encodings.pop())


def _copy_and_finalize(output, shards, owner, shard_files, train, test, manifests, encoding) -> Path:
    from sdmr.data.atomic import remove_temp_files
    from sdmr.data.writer import DatasetWriter

    remove_temp_files(output)  # left by a killed merge; we hold the lock, so none is live
    writer = DatasetWriter(output, png_encoding=encoding, write_numpy_depth=manifests[0]["depth"]["numpy"])
    for index, shard in sorted(owner.items()):
        if writer.is_complete(index):
            continue
        for src in shard_files[shard].get(index, []):
            atomic_write_bytes(output / src.parent.name / src.name, src.read_bytes())
        meta = shard / L.META_DIR / L.image_name(index, ".json")
        atomic_write_bytes(writer.meta_path(index), meta.read_bytes())  # last: marks the image complete
    metadata = dict(manifests[0].get("metadata", {}))
    metadata["merged_from"] = [str(s) for s in shards]
    metadata["shard"] = None
    return writer.finalize(np.sort(np.concatenate(train)), np.sort(np.concatenate(test)), metadata)
