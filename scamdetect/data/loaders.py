"""Hugging Face ``datasets`` loaders: the corpus and the external sets, one schema, with splits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from .sources import EXTERNAL, Row, read_corpus
from .splits import DEFAULT_SEED, load_splits, stable_split

if TYPE_CHECKING:
    import datasets


def features() -> "datasets.Features":
    """The schema every loader returns."""
    import datasets

    s = datasets.Value("string")
    return datasets.Features({
        "id": s, "text": s, "label": datasets.ClassLabel(names=["not_scam", "scam"]), "category": s,
        "platform": s, "lang": s, "template_group": s, "obfuscated": datasets.Value("bool"), "notes": s,
        "source": s, "split": s,
    })


def _require_datasets() -> None:
    try:
        import datasets  # noqa: F401
    except ImportError:
        raise ImportError("the data loaders need the `datasets` package: pip install 'scamdetect[train]'") from None


def with_splits(rows: Iterable[Row], splits_path: str | Path | None = None, seed: int = DEFAULT_SEED) -> list[Row]:
    """Rows with a ``split`` field: corpus groups from the split map, external ones by seeded hash."""
    from ..config import data_dir

    split_of = load_splits(splits_path or data_dir() / "splits.json")
    out = []
    for r in rows:
        g = str(r["template_group"])
        if r["source"] == "corpus":
            if g not in split_of:
                raise ValueError(f"template group {g!r} has no split: run `scamdetect data split`")
            side = split_of[g]
        else:
            side = stable_split(g, seed)
        out.append({**r, "split": side})
    return out


def load_rows(sources: Sequence[str] = ("corpus",), corpus: str | Path | None = None,
              splits_path: str | Path | None = None) -> list[Row]:
    """Plain rows (with splits) from the corpus and the named external sets."""
    unknown = set(sources) - {"corpus", *EXTERNAL}
    if unknown:
        raise ValueError(f"unknown sources {sorted(unknown)} (known: corpus, {', '.join(EXTERNAL)})")
    rows: list[Row] = []
    for name in sources:
        rows.extend(read_corpus(corpus) if name == "corpus" else EXTERNAL[name]())
    return with_splits(rows, splits_path)


def load_dataset(sources: Sequence[str] = ("corpus",), corpus: str | Path | None = None,
                 splits_path: str | Path | None = None) -> "datasets.DatasetDict":
    """A ``DatasetDict`` (train / validation / test) over the chosen sources, one schema."""
    _require_datasets()
    import datasets

    rows = load_rows(sources, corpus, splits_path)
    feats = features()
    out = {}
    for side in ("train", "validation", "test"):
        part = [r for r in rows if r["split"] == side]
        columns = {name: [r[name] for r in part] for name in feats}
        out[side] = datasets.Dataset.from_dict(columns, features=feats)
    return datasets.DatasetDict(out)
