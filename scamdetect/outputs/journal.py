"""Resumable batch runs.

A run keeps its work in ``OUTPUT.partial/``: each scored block is saved as its own files, and a
small marker written last (after the data is on disk) says the block is complete. A run that is
killed, even with kill -9, leaves complete blocks and at most some unmarked files; ``--resume``
scores only the blocks without a marker, and the final output is assembled from the blocks in
input order, so no row is lost or written twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from .files import InputError

RUN_FILE = "run.json"
_HEAD = 1 << 20  # bytes of input hashed to recognise the same file again


def fingerprint(src: Path, settings: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """What must not change between a run and its resumption: the input, the settings, the model."""
    st = src.stat()
    with src.open("rb") as fh:
        head = hashlib.sha256(fh.read(_HEAD)).hexdigest()
    model = hashlib.sha256(json.dumps(manifest, sort_keys=True, default=str).encode()).hexdigest()
    return {"input": str(src.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "head_sha256": head,
            "model_id": manifest.get("model_id"), "model_sha256": model, **settings}


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either nothing or all of it, even after a crash."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Journal:
    """The blocks of one run saved so far, in ``directory``."""

    def __init__(self, directory: Path, run: dict[str, Any], resume: bool = False, restart: bool = False):
        self.dir = directory
        self.done: dict[int, dict[str, Any]] = {}
        if directory.exists() and restart:
            shutil.rmtree(directory)
        if directory.exists():
            self._reopen(run, resume)
        else:
            directory.mkdir(parents=True)
            write_atomic(directory / RUN_FILE, json.dumps(run, indent=1).encode())

    def _reopen(self, run: dict[str, Any], resume: bool) -> None:
        try:
            old = json.loads((self.dir / RUN_FILE).read_text())
        except (OSError, ValueError):
            old = None
        if old is None:  # killed before the run file was written: nothing was scored yet
            write_atomic(self.dir / RUN_FILE, json.dumps(run, indent=1).encode())
            return
        done = self._markers()
        if not resume:
            raise InputError(f"{self.dir} holds an interrupted run ({len(done)} blocks done): use --resume to "
                             "continue it, or --restart to start over")
        changed = [k for k in run if old.get(k) != run[k]]
        if changed:
            raise InputError(f"cannot resume: {', '.join(changed)} changed since the interrupted run in {self.dir}; "
                             "use --restart to start over")
        self.done = done

    def _markers(self) -> dict[int, dict[str, Any]]:
        out = {}
        for p in self.dir.glob("*.done.json"):
            try:
                meta = json.loads(p.read_bytes())
            except ValueError:  # cannot happen with atomic writes, but a damaged marker only costs a redo
                continue
            out[int(meta["index"])] = meta
        return out

    def _paths(self, index: int) -> tuple[Path, Path, Path]:
        stem = self.dir / f"{index:07d}"
        return stem.with_suffix(".jsonl"), stem.with_suffix(".rejects.jsonl"), stem.with_suffix(".done.json")

    def save(self, index: int, out: bytes, rejects: bytes, meta: dict[str, Any]) -> None:
        """Save one scored block; it counts as done once this returns."""
        data, rej, marker = self._paths(index)
        write_atomic(data, out)
        write_atomic(rej, rejects)
        meta = {**meta, "index": index}
        write_atomic(marker, json.dumps(meta).encode())  # last: the block is complete
        self.done[index] = meta

    def blocks(self) -> Iterator[tuple[dict[str, Any], Path, Path]]:
        """Every saved block in input order: (marker, output rows, rejects)."""
        for index in sorted(self.done):
            data, rej, _ = self._paths(index)
            yield self.done[index], data, rej

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
