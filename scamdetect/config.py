"""Where the project's data lives. Settings come from the environment, with defaults that work in
a checkout: the corpus in ``data/`` beside the package and external data in ``../shared``."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# A source checkout has pyproject.toml next to the package; an installed wheel does not.
CHECKOUT_DIR = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").exists() else None


def project_dir() -> Path:
    """The project checkout, or the working directory when the package is installed elsewhere."""
    return CHECKOUT_DIR or Path.cwd()


def shared_dir() -> Path:
    """External data and tokenizers: $SCAMDETECT_SHARED, else ``../shared`` beside the project."""
    env = os.environ.get("SCAMDETECT_SHARED")
    return Path(env) if env else project_dir().parent / "shared"


def data_dir() -> Path:
    """The project's corpus folder: $SCAMDETECT_DATA, else ``data/`` in the project."""
    env = os.environ.get("SCAMDETECT_DATA")
    return Path(env) if env else project_dir() / "data"


def models_dir() -> Path:
    """Where shipped models live: $SCAMDETECT_MODELS, else ``models/`` in the project."""
    env = os.environ.get("SCAMDETECT_MODELS")
    return Path(env) if env else project_dir() / "models"


def cache_dir() -> Path:
    """Files rebuilt from the package when missing (compiled pattern databases, ONNX exports):
    $SCAMDETECT_CACHE, else ~/.cache/scamdetect."""
    env = os.environ.get("SCAMDETECT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "scamdetect"
