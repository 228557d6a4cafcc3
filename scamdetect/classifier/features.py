"""Fast sparse features: sub-word unigrams and hashed bigrams from a Rust tokenizer, plus rule hits.

The tokenizer is trained on the normalised training texts, so frequent words are single tokens
and rare or disguised words fall apart into pieces that still carry signal (as char n-grams do,
at a fraction of the cost). Counting and hashing are done with numpy over a whole batch.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

from ..signals import PLACEHOLDER_NAMES, PLACEHOLDERS

BIGRAM_BITS = 19
_CACHE_LIMIT = 100_000
_ID_BYTES = np.dtype(np.int64).itemsize
_UNK = "[UNK]"
SPECIAL_TOKENS = [_UNK, *sorted({p.strip() for p in PLACEHOLDERS.values()})]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 16000, min_frequency: int = 2) -> Tokenizer:
    """A WordPiece tokenizer for normalised model texts, built deterministically.

    The library's WordPiece trainer gives a different vocabulary from run to run on the same data
    (huggingface/tokenizers#1794), so the vocabulary is chosen here by counts, ties broken
    alphabetically: every character (alone and as a continuation), then the most frequent whole
    words, then the most frequent word beginnings and continuations for the rest.
    """
    pre = pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        words.update(w for w, _ in pre.pre_tokenize_str(text))
    for special in SPECIAL_TOKENS:
        words.pop(special, None)
    vocab = list(SPECIAL_TOKENS)
    chars = sorted({c for w in words for c in w})
    vocab += chars + ["##" + c for c in chars]
    room = max(0, vocab_size - len(vocab))
    frequent = sorted(((n, w) for w, n in words.items() if n >= min_frequency and len(w) > 1), key=lambda x: (-x[0], x[1]))
    whole = [w for _, w in frequent[: room * 3 // 4]]
    pieces: Counter[str] = Counter()
    taken = set(whole)
    for w, n in words.items():
        if w in taken or len(w) < 3:
            continue
        for k in range(2, min(8, len(w)) + 1):
            pieces[w[:k]] += n
        for i in range(1, len(w) - 1):
            for k in range(2, min(6, len(w) - i) + 1):
                pieces["##" + w[i:i + k]] += n
    rest = room - len(whole)
    parts = [p for p, n in sorted(pieces.items(), key=lambda x: (-x[1], x[0])) if n >= min_frequency and p not in taken][:rest]
    vocab += whole + parts
    tok = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(dict.fromkeys(vocab))}, unk_token=_UNK,
                                     max_input_chars_per_word=60))
    tok.normalizer = normalizers.Sequence([])  # input is already normalised
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece()
    tok.add_special_tokens(SPECIAL_TOKENS)
    return tok


class Featurizer:
    """Turns model texts and rule hits into a raw count matrix (before TF-IDF)."""

    def __init__(self, tokenizer: Tokenizer, rule_ids: Sequence[str], bigram_bits: int = BIGRAM_BITS):
        self.tokenizer = tokenizer
        self.rule_ids = list(rule_ids)
        self.rule_index = {r: i for i, r in enumerate(self.rule_ids)}
        self.vocab_size = tokenizer.get_vocab_size()
        self.bigram_bits = bigram_bits
        self.n_text = self.vocab_size + (1 << bigram_bits)
        self._pieces: dict[str, bytes] = {}

    @property
    def n_features(self) -> int:
        return self.n_text + len(self.rule_ids)

    def token_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of all texts, one after another, and the number of tokens of each text.

        Each whitespace-separated chunk is tokenized once and cached: most chunks recur, and a dict
        lookup is far cheaper than a call into the tokenizer, which still cuts punctuation inside a
        chunk as it would in the whole text. The cache holds each chunk's ids as the bytes of an
        int64 array, so the whole batch is joined by one ``bytes.join`` (a copy of memory) and
        the lookups run in C (``map``) rather than chunk by chunk in Python.
        """
        words: list[str] = []
        per_text = np.empty(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            chunks = text.split()
            per_text[i] = len(chunks)
            words.extend(chunks)
        pieces = list(map(self._pieces.get, words))
        if None in pieces:
            pieces = [p if p is not None else self._encode(w) for w, p in zip(words, pieces)]
        # tokens before each chunk, read at each text's first and last chunk
        before = np.zeros(len(pieces) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces)) // _ID_BYTES, out=before[1:])
        flat = np.frombuffer(b"".join(pieces), dtype=np.int64)
        bounds = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(per_text, out=bounds[1:])
        return flat, np.diff(before[bounds])

    def _encode(self, chunk: str) -> bytes:
        pieces = self._pieces.get(chunk)  # an earlier miss in the same batch may have filled it
        if pieces is None:
            if len(self._pieces) >= _CACHE_LIMIT:
                self._pieces.clear()
            ids = self.tokenizer.encode(chunk, add_special_tokens=False).ids
            # bytes: compact, and nothing the garbage collector tracks, however large the cache grows
            pieces = self._pieces[chunk] = np.array(ids, dtype=np.int64).tobytes()
        return pieces

    def bigram_column(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Hashed column of the bigram (a, b): a multiplicative hash into 2**bits buckets."""
        key = a.astype(np.uint64) * np.uint64(self.vocab_size) + b.astype(np.uint64)
        h = (key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - self.bigram_bits)
        return self.vocab_size + h.astype(np.int64)

    def text_counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Counts of unigrams and hashed bigrams, one row per text."""
        flat, lengths = self.token_ids(texts)
        doc = np.repeat(np.arange(len(texts)), lengths)
        same_doc = doc[1:] == doc[:-1]
        bi_cols = self.bigram_column(flat[:-1][same_doc], flat[1:][same_doc])
        rows = np.concatenate([doc, doc[:-1][same_doc]])
        cols = np.concatenate([flat, bi_cols])
        data = np.ones(len(rows), dtype=np.float32)
        m = sp.csr_matrix((data, (rows, cols)), shape=(len(texts), self.n_text), dtype=np.float32)
        m.sum_duplicates()
        return m

    def rule_matrix(self, hit_ids: Sequence[Iterable[str]]) -> sp.csr_matrix:
        """One column per rule: 1 where the rule fired on the post."""
        rows, cols = [], []
        for i, hits in enumerate(hit_ids):
            for h in hits:
                j = self.rule_index.get(h)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        data = np.ones(len(rows), dtype=np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(hit_ids), len(self.rule_ids)), dtype=np.float32)

    def term(self, column: int) -> str:
        """Readable name of a text column (a token, or 'bigram' for a hashed pair)."""
        if column < self.vocab_size:
            tok = self.tokenizer.id_to_token(column) or "?"
            return PLACEHOLDER_NAMES.get(tok, tok.removeprefix("##"))
        if column < self.n_text:
            return "<bigram>"
        return "rule:" + self.rule_ids[column - self.n_text]
