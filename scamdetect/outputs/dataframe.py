"""Scoring DataFrames: pandas in one process, Dask across a cluster (the model loaded once per worker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from .engines import cached_detector
from .files import NESTED, InputError, text_problem

# Columns added to the frame; nested values are JSON text, so that the frame writes to any format.
COLUMNS = {"score": "float64", "label": "object", "threshold": "float64", "model_id": "object",
           "red_flags": "object", "reasons": "object", "mitigating": "object", "terms": "object",
           "entities": "object", "error": "object"}


def score_dataframe(df: Any, model: str | Path | None = None, text_field: str = "text") -> Any:
    """``df`` with the prediction columns added (``error`` says why a row could not be scored; its
    prediction columns are then empty). ``df`` is a pandas or a Dask DataFrame; for Dask, ``model``
    must be a path the workers can read (None: the default model)."""
    model_str = str(model) if model is not None else None
    if text_field not in df.columns:
        raise InputError(f"the frame has no column {text_field!r} (columns: {', '.join(map(str, df.columns))})")
    if hasattr(df, "map_partitions"):  # Dask: the work happens on the workers, lazily
        import pandas as pd

        meta = df._meta.assign(**{c: pd.Series([], dtype=t) for c, t in COLUMNS.items()})
        return df.map_partitions(_score_partition, model_str, text_field, meta=meta)
    return _score_partition(df, model_str, text_field)


def _score_partition(pdf: Any, model: str | None, text_field: str) -> Any:
    import pandas as pd

    det = cached_detector(model)
    texts = pdf[text_field].tolist()
    errors = [text_problem(t, text_field) for t in texts]
    ok = [i for i, e in enumerate(errors) if e is None]
    cols: dict[str, list[Any]] = {c: [None] * len(texts) for c in COLUMNS}
    cols["error"] = errors
    for i, p in zip(ok, det.predict([texts[i] for i in ok]) if ok else ()):
        d = p.to_row()
        for k in NESTED:
            d[k] = orjson.dumps(d[k]).decode()
        for k, v in d.items():
            cols[k][i] = v
    out = pdf.copy()
    for c, t in COLUMNS.items():
        out[c] = pd.Series(cols[c], index=pdf.index, dtype=t)
    return out
