import json
import shutil

import numpy as np
import pytest

from conftest import NOT_SCAMS, SCAMS, tiny_training_set
from scamdetect.classifier import ModelError, TfidfScamClassifier, load_classifier, read_artifact


def test_estimator_contract():
    texts, y = tiny_training_set()
    est = TfidfScamClassifier(C=4.0, vocab_size=400, bigram_bits=10)
    assert est.fit(texts, y) is est
    p = est.predict_proba(texts)
    assert p.shape == (len(texts), 2) and np.allclose(p.sum(axis=1), 1)
    assert (est.predict(SCAMS) == 1).mean() > 0.8 and (est.predict(NOT_SCAMS) == 0).mean() > 0.8
    assert est.get_params()["C"] == 4.0


def test_estimator_needs_both_labels():
    with pytest.raises(ValueError, match="both labels"):
        TfidfScamClassifier().fit(["a", "b"], [1, 1])


def test_calibration_is_monotonic():
    texts, y = tiny_training_set()
    est = TfidfScamClassifier(vocab_size=400, bigram_bits=10).fit(texts, y)
    s = est.decision_function(texts)
    est.calibrate(s, y)
    p = est.predict_proba(texts)[:, 1]
    order = np.argsort(s)
    assert np.all(np.diff(p[order]) >= -1e-12)


def test_saved_model_reloads_with_identical_scores(tiny_model_dir):
    from scamdetect.signals import analyze

    texts, y = tiny_training_set()
    est = TfidfScamClassifier(C=4.0, vocab_size=500, bigram_bits=12).fit(texts, y)
    model, rules, manifest = load_classifier(tiny_model_dir)
    analyses = [analyze(t, rules) for t in texts]
    assert np.allclose(model.predict_proba(analyses), est.predict_proba(texts)[:, 1])
    again, _, _ = load_classifier(tiny_model_dir)
    assert np.array_equal(model.predict_proba(analyses), again.predict_proba(analyses))
    assert manifest["kind"] == "tfidf" and manifest["model_id"] == "tiny-test"
    assert set(manifest["files"]) == {"weights.npz", "tokenizer.json", "rules.yaml", "README.md"}
    assert all(len(v["sha256"]) == 64 for v in manifest["files"].values())


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    return shutil.copytree(tiny_model_dir, tmp_path / "m")


def test_tampered_weights_are_refused(model_copy):
    f = model_copy / "weights.npz"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        load_classifier(model_copy)


def test_truncated_file_is_refused(model_copy):
    f = model_copy / "tokenizer.json"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(ModelError, match="truncated or tampered"):
        load_classifier(model_copy)


def test_edited_rules_are_refused(model_copy):
    f = model_copy / "rules.yaml"
    f.write_text(f.read_text() + "\n# harmless?\n")
    with pytest.raises(ModelError):
        load_classifier(model_copy)


def test_pickle_files_are_refused(model_copy):
    (model_copy / "extra.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(ModelError, match="pickle"):
        read_artifact(model_copy)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(format_version=99), "not supported"),
    (lambda m: m.update(kind="mystery"), "unknown model kind"),
    (lambda m: m["files"].update({"ghost.npz": {"sha256": "0" * 64, "bytes": 1}}), "missing"),
])
def test_unknown_or_inconsistent_manifest_is_refused(model_copy, edit, message):
    path = model_copy / "manifest.json"
    m = json.loads(path.read_text())
    edit(m)
    path.write_text(json.dumps(m))
    with pytest.raises(ModelError, match=message):
        read_artifact(model_copy)


def test_missing_or_garbled_manifest(model_copy, tmp_path):
    with pytest.raises(ModelError, match="not found"):
        read_artifact(tmp_path / "nope")
    (model_copy / "manifest.json").write_text("{oops")
    with pytest.raises(ModelError, match="not valid JSON"):
        read_artifact(model_copy)
    (model_copy / "manifest.json").unlink()
    with pytest.raises(ModelError, match="not a scamdetect model"):
        read_artifact(model_copy)


def test_featurizer_counts_match_the_tokenizer_and_tokenize_each_new_chunk_once():
    from scamdetect.classifier.features import Featurizer, train_tokenizer

    texts = ["gaji xmoneyhighx kerja di kamboja", "", "kerja kerja kamboja!", "xphonex"]
    fz = Featurizer(train_tokenizer(texts * 3, vocab_size=200, min_frequency=1), ["r"], bigram_bits=8)
    calls = []
    encode = fz.tokenizer.encode

    class Counting:  # the tokenizer is a Rust object: wrap it to count calls
        def encode(self, chunk, **kw):
            calls.append(chunk)
            return encode(chunk, **kw)

        def __getattr__(self, name):
            return getattr(fz.tokenizer_, name)

    fz.tokenizer_, fz.tokenizer = fz.tokenizer, Counting()
    counts = fz.text_counts(texts + texts)
    assert sorted(calls) == sorted({w for t in texts for w in t.split()})  # once each, not per occurrence
    for i, t in enumerate(texts + texts):
        ids = [j for w in t.split() for j in encode(w, add_special_tokens=False).ids]
        expected = np.bincount(ids, minlength=fz.vocab_size) if ids else np.zeros(fz.vocab_size)
        assert np.array_equal(counts[i, :fz.vocab_size].toarray().ravel(), expected)
        assert counts[i].sum() == len(ids) + max(0, len(ids) - 1)  # unigrams and bigrams
