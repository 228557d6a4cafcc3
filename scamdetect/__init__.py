"""scamdetect: flag recruitment-scam posts (online-scam compound recruitment, fake job ads) in
Indonesian social-media text, and say why.

    >>> import scamdetect
    >>> det = scamdetect.load()                 # the model shipped in models/
    >>> det.predict("Loker admin Kamboja gaji 15jt, tiket & visa ditanggung, WA 0812...")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["load", "Detector", "Prediction", "ModelError", "normalize", "__version__"]

if TYPE_CHECKING:
    from .classifier import ModelError
    from .detector import Detector, Prediction, load
    from .normalize import normalize

# Heavy modules (scikit-learn, scipy) load on first use, so `import scamdetect` stays quick.
_LAZY = {"load": "detector", "Detector": "detector", "Prediction": "detector", "ModelError": "classifier",
         "normalize": "normalize"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'scamdetect' has no attribute {name!r}")
