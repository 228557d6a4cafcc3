import gc
import random
import types

import pytest

import scamdetect
from conftest import NOT_SCAMS, SCAMS


@pytest.fixture(scope="module")
def det(tiny_model_dir):
    return scamdetect.load(tiny_model_dir)


def test_predict_single_and_batch(det):
    one = det.predict(SCAMS[0])
    many = det.predict(SCAMS[:2])
    assert isinstance(one, scamdetect.Prediction) and len(many) == 2
    assert one.score == many[0].score
    assert one.model_id == "tiny-test" and one.threshold == det.threshold
    assert one.label in ("scam", "not_scam") and one.is_scam == (one.score >= one.threshold)


def test_predictions_explain_themselves(det):
    text = "Dibutuhkan ADMIN ke K4mboja, gaji 15jt/bulan, tiket & visa ditanggung, WA 0812-3456-7890"
    p = det.predict(text)
    rules = {r["rule"] for r in p.reasons}
    assert {"role_admin_cs", "destination_hub", "salary_high", "costs_covered"} <= rules
    for r in p.reasons:
        assert r["id"] and r["en"]
        for s in r["spans"]:
            assert text[s["start"]:s["end"]] == s["text"]
    kinds = {e["kind"]: e["value"] for e in p.entities}
    assert kinds["phone"] == "+6281234567890" and kinds["destination"] == "KH"
    assert all(t["weight"] > 0 for t in p.terms)
    d = p.to_dict()
    assert set(d) == {"score", "label", "threshold", "model_id", "reasons", "mitigating", "terms", "entities"}


def test_warnings_show_mitigating_signals(det):
    p = det.predict("Waspada modus penipuan loker ke Kamboja, korban TPPO terus bertambah")
    assert "warning_language" in {r["rule"] for r in p.mitigating}


def test_tiny_model_separates_its_training_posts(det):
    assert all(p.is_scam for p in det.predict(SCAMS))
    assert not any(p.is_scam for p in det.predict(NOT_SCAMS))


def test_predict_proba(det):
    assert isinstance(det.predict_proba(SCAMS[0]), float)
    assert det.predict_proba(SCAMS).shape == (len(SCAMS),)


def test_bad_input_type(det):
    with pytest.raises(TypeError, match="must be a string"):
        det.predict([None])  # type: ignore[list-item]


def test_empty_batch(det):
    assert det.predict([]) == []


def test_explain_is_readable(det):
    out = det.explain("Loker CS Kamboja gaji $1000, visa turis, hubungi Telegram @kh_job")
    assert "score" in out and "tourist_visa_route" not in out.split("\n")[0]
    assert "Red flags" in out and "@kh_job" in out


def test_default_model_loads_and_flags_the_obvious():
    det = scamdetect.load()
    scam = det.predict("LOKER KAMBOJA 🇰🇭 admin/CS gaji 15jt, tiket+visa+mess ditanggung, tanpa pengalaman, "
                       "langsung berangkat! minat WA 0813-2222-1111")
    news = det.predict("Kemlu mengimbau WNI waspada tawaran kerja ke Kamboja bergaji tinggi; ratusan korban TPPO "
                       "telah dipulangkan KBRI Phnom Penh tahun ini.")
    assert scam.is_scam and not news.is_scam


def test_loading_a_model_imports_neither_torch_nor_sklearn():
    import subprocess
    import sys

    code = ("import sys, scamdetect; scamdetect.load(); "
            "assert not {'torch', 'transformers', 'sklearn'} & set(sys.modules), 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_scoring_leaves_no_reference_cycles(det):
    # Garbage in a reference cycle waits for the cyclic collector, and pins whatever it reaches:
    # a cycle through a traceback reaches the calling frames, so the whole batch of posts.
    # A number with an unknown country code takes the phone library's error path; fresh digits
    # keep the number out of the phone cache.
    texts = [f"gaji 15jt di kamboja, hubungi +999 {random.randrange(10**7):07d} sekarang" for _ in range(50)]
    texts += ["dicari admin, tiket visa ditanggung, WA 0812-3456-7890", "info loker resmi lewat disnaker"]
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept in gc.garbage, not freed
    try:
        det.predict(texts)
        gc.collect()
        ours = [o for o in gc.garbage if type(o).__module__.startswith("scamdetect")
                or (isinstance(o, types.FrameType) and "phonenumbers" in o.f_code.co_filename)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    # other threads of the test session may leave garbage of their own: only ours counts
    assert ours == []
