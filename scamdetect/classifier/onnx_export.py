"""ONNX export of a transformer model with int8 dynamic quantisation (onnxruntime), for CPU scoring.

The ONNX files are built from a loaded model and cached outside the repository (they hold the whole
encoder: ~120 MB for multilingual-e5-small in int8), keyed by the model's manifest hash."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from ..config import cache_dir
from .transformer import TransformerModel, pad_batch


class _Logits(torch.nn.Module):
    def __init__(self, model: TransformerModel):
        super().__init__()
        self.net = model.net

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.net(input_ids, attention_mask)


def export_onnx(model: TransformerModel, path: str | Path, quantize: bool = True) -> Path:
    """Write the model as ONNX (dynamic batch and length); with ``quantize``, int8 weights for
    MatMul and Gather (dynamic quantisation: activations quantised at run time)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fp32 = out.with_suffix(".fp32.onnx") if quantize else out
    x, m = pad_batch(model.encode(["contoh teks lowongan kerja", "dua"]), model.pad_id)
    model.net.eval()
    with torch.no_grad():
        torch.onnx.export(_Logits(model), (x, m), str(fp32), input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": {0: "batch", 1: "length"},
                                        "attention_mask": {0: "batch", 1: "length"}, "logits": {0: "batch"}})
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gather"])
        fp32.unlink()
    return out


def onnx_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session with ``threads`` intra-op threads."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def use_onnx(model: TransformerModel, manifest: dict[str, Any], threads: int | None = None,
             folder: str | Path | None = None) -> Path:
    """Score ``model`` with its int8 ONNX export from now on (exported once, then cached)."""
    key = hashlib.sha256(repr(sorted((k, v["sha256"]) for k, v in manifest["files"].items())).encode()).hexdigest()
    path = Path(folder or cache_dir() / "onnx") / f"{manifest.get('model_id', 'model')}-{key[:16]}.int8.onnx"
    if not path.exists():
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.onnx")
        export_onnx(model, tmp)
        tmp.replace(path)
    model.onnx_session = onnx_session(path, threads or model.threads)
    return path
