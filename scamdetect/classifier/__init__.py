"""Classifiers and their on-disk artifacts. Inference needs no scikit-learn; training does."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..signals import RuleSet, rules_from_yaml
from .artifact import FORMAT_VERSION, KINDS, ModelError, read_artifact, write_artifact
from .tfidf import TfidfModel

if TYPE_CHECKING:
    from .estimator import TfidfScamClassifier

__all__ = ["TfidfModel", "TfidfScamClassifier", "ModelError", "save_tfidf", "load_classifier", "read_artifact",
           "write_artifact", "FORMAT_VERSION", "KINDS"]

RULES_FILE = "rules.yaml"


def __getattr__(name: str) -> Any:
    if name == "TfidfScamClassifier":  # imports scikit-learn: only when training
        from .estimator import TfidfScamClassifier

        return TfidfScamClassifier
    raise AttributeError(name)


def save_tfidf(est: "TfidfScamClassifier", path: str | Path, rules_yaml: str, info: Mapping[str, Any]) -> dict[str, Any]:
    """Write a fitted baseline with the exact rules it was trained with."""
    files = {**est.model_.to_files(), RULES_FILE: rules_yaml.encode("utf-8")}
    return write_artifact(path, "tfidf", files, {**info, "threshold": est.threshold_,
                                                 "params": est.params_for_manifest()})


def load_classifier(path: str | Path) -> tuple[Any, RuleSet, dict[str, Any]]:
    """Verify and load a model directory (any kind): the model, its rules and its manifest."""
    manifest, files = read_artifact(path)
    try:
        rules = RuleSet(rules_from_yaml(files[RULES_FILE].decode("utf-8"), f"{path}/{RULES_FILE}"))
        if manifest["kind"] == "transformer":  # imports torch: only for such a model
            from .transformer import configure, from_files

            return configure(from_files(files, manifest["params"]), manifest), rules, manifest
        if manifest["kind"] == "cascade":
            from .cascade import load_cascade

            return load_cascade(path, manifest), rules, manifest
        model = TfidfModel.from_files(files, manifest["params"])
    except ImportError as exc:
        raise ModelError(f"{path}: a {manifest['kind']} model needs the bert extra: pip install 'scamdetect[bert]' "
                         f"({exc})") from None
    except (KeyError, ValueError, TypeError, OSError) as exc:
        raise ModelError(f"{path}: model files are inconsistent ({exc})") from None
    return model, rules, manifest
