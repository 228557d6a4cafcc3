import json
from collections import Counter
from pathlib import Path

import pytest

from conftest import write_jsonl
from scamdetect.data import CATEGORIES, Obfuscator, assign_splits, check_record
from scamdetect.data.splits import crossing_pairs, load_splits, save_splits
from scamdetect.data.validate import validate
from scamdetect.normalize import normalize

ROOT = Path(__file__).resolve().parents[1]


def rec(i, text, cat="scam_overseas", group=None, **kw):
    r = {"id": f"t-{i}", "text": text, "label": CATEGORIES[cat], "category": cat, "platform": "facebook",
         "lang": "id", "template_group": group or f"g-{i}", "obfuscated": False, "notes": ""}
    r.update(kw)
    return r


def test_shipped_corpus_is_valid_and_large_enough():
    rep = validate(ROOT / "data" / "corpus", ROOT / "data" / "splits.json")
    assert rep.ok, rep.problems[:10]
    groups = {r["template_group"]: r["category"] for r in rep.rows}
    assert len(groups) >= 1500
    assert sum(CATEGORIES[c] for c in groups.values()) >= 500
    assert min(Counter(groups.values()).values()) >= 150
    # every split holds every category
    sides = Counter((rep.split_of[r["template_group"]], r["category"]) for r in rep.rows)
    assert all(sides[(s, c)] > 0 for s in ("train", "validation", "test") for c in CATEGORIES)


@pytest.mark.parametrize("change, message", [
    ({"label": 0}, "does not match category"),
    ({"category": "spam"}, "unknown category"),
    ({"platform": "myspace"}, "unknown platform"),
    ({"obfuscated": "yes"}, "true or false"),
    ({"text": "   "}, "empty"),
    ({"extra": 1}, "unknown fields"),
])
def test_record_problems(change, message):
    r = rec(1, "some text here")
    r.update(change)
    assert any(message in p for p in check_record(r))


def test_missing_field_is_reported():
    r = rec(1, "text")
    del r["notes"]
    assert "missing fields: notes" in check_record(r)


SCAM = "Dibutuhkan admin ke Kamboja gaji 15 juta tiket dan visa ditanggung hubungi WA sekarang juga ya kak"
NEAR = "Dibutuhkan admin ke Kamboja gaji 15 juta tiket dan visa ditanggung hubungi WA sekarang juga ya kakak"


def _small_corpus(tmp_path, rows, split_of):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_jsonl(corpus / "a.jsonl", rows)
    save_splits(tmp_path / "splits.json", split_of, 1, (0.7, 0.15, 0.15), 0.8)
    return corpus


def test_validate_fails_when_a_near_duplicate_pair_crosses_splits(tmp_path):
    rows = [rec(1, SCAM), rec(2, NEAR), rec(3, "Waspada modus loker Kamboja kata Kemlu hari ini", "awareness_news")]
    corpus = _small_corpus(tmp_path, rows, {"g-1": "train", "g-2": "test", "g-3": "train"})
    rep = validate(corpus, tmp_path / "splits.json", minimums=False)
    assert any("near-duplicate posts t-1 and t-2" in p for p in rep.problems)


def test_validate_fails_when_a_group_has_no_split_or_mixes_categories(tmp_path):
    rows = [rec(1, SCAM, group="g"), rec(2, "Liburan ke Bangkok seru sekali bersama keluarga", "other_social", group="g")]
    corpus = _small_corpus(tmp_path, rows, {})
    problems = validate(corpus, tmp_path / "splits.json", minimums=False).problems
    assert any("mixes categories" in p for p in problems)
    assert any("have no split" in p for p in problems)


def test_validate_reports_bad_json_duplicates_and_minimums(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text(json.dumps(rec(1, SCAM)) + "\n{not json\n" + json.dumps(rec(1, "other text here")) + "\n")
    save_splits(tmp_path / "splits.json", {"g-1": "train"}, 1, (0.7, 0.15, 0.15), 0.8)
    problems = validate(corpus, tmp_path / "splits.json").problems
    assert any("a.jsonl:2: bad JSON" in p for p in problems)
    assert any("duplicate id 't-1'" in p for p in problems)
    assert any("distinct template groups" in p for p in problems)


def test_splits_keep_groups_and_near_duplicates_together():
    rows = [rec(i, f"Post number {i} tentang loker admin di kota {i} dengan gaji {i} juta", group=f"g{i // 3}")
            for i in range(60)]
    rows += [rec(100, SCAM), rec(101, NEAR)]
    split_of = assign_splits(rows, seed=7)
    assert split_of["g-100"] == split_of["g-101"]
    assert crossing_pairs(rows, split_of) == []
    assert set(split_of.values()) == {"train", "validation", "test"}
    # stable: adding posts never moves old groups
    more = rows + [rec(200 + i, f"Lowongan baru nomor {i} untuk kasir toko {i}", "legit_domestic") for i in range(20)]
    again = assign_splits(more, seed=99, existing=split_of)
    assert all(again[g] == s for g, s in split_of.items())


def test_split_file_round_trip(tmp_path):
    save_splits(tmp_path / "s.json", {"a": "train", "b": "test"}, 13, (0.7, 0.15, 0.15), 0.8)
    assert load_splits(tmp_path / "s.json") == {"a": "train", "b": "test"}


def test_obfuscator_is_seeded_and_undone_by_normalisation():
    obf = Obfuscator(seed=3)
    text = "Dibutuhkan admin untuk kerja di Kamboja, gaji besar, tiket dan visa ditanggung, hubungi Telegram"
    a, b = obf(text, "post-1"), obf(text, "post-1")
    assert a == b and a != text
    assert obf(text, "post-2") != a or Obfuscator(seed=4)(text, "post-1") != a
    for key in range(30):
        for tech in ("homoglyph", "zero_width", "font"):
            out = Obfuscator(seed=key, techniques=[tech])(text, str(key))
            assert normalize(out).text == text.lower(), (tech, out)
        # two neighbouring words spaced out the same way cannot be told apart ("u n t u k K E R J A"),
        # so for spacing only the letters are checked
        out = Obfuscator(seed=key, techniques=["spaced"])(text, str(key))
        assert normalize(out).text.replace(" ", "") == text.lower().replace(" ", ""), out


def test_obfuscator_rejects_unknown_technique():
    with pytest.raises(ValueError, match="unknown techniques"):
        Obfuscator(techniques=["rot13"])


def test_datasets_loader_returns_one_schema(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    from scamdetect.data.loaders import load_dataset

    rows = [rec(i, f"{SCAM} nomor {i}", group=f"g{i}") for i in range(6)]
    rows += [rec(10 + i, f"Lowongan kasir toko roti nomor {i} gaji UMR", "legit_domestic", group=f"h{i}") for i in range(6)]
    corpus = _small_corpus(tmp_path, rows, {**{f"g{i}": "train" for i in range(6)}, **{f"h{i}": "test" for i in range(6)}})
    ds = load_dataset(["corpus"], corpus, tmp_path / "splits.json")
    assert isinstance(ds, datasets.DatasetDict)
    assert ds["train"].num_rows == 6 and ds["test"].num_rows == 6 and ds["validation"].num_rows == 0
    assert ds["train"].features["label"].names == ["not_scam", "scam"]
    assert set(ds["test"].column_names) >= {"id", "text", "label", "category", "template_group", "source", "split"}


def test_external_sets_say_where_to_get_them(tmp_path, monkeypatch):
    from scamdetect.data.sources import DataMissingError, read_lokerid

    monkeypatch.setenv("SCAMDETECT_SHARED", str(tmp_path / "nowhere"))
    with pytest.raises(DataMissingError, match="data/README.md"):
        list(read_lokerid())


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data").exists(), reason="../shared is not beside the project")
def test_external_sets_load_to_the_schema():
    from scamdetect.data.sources import EXTERNAL, read_unlabeled

    for name, reader in EXTERNAL.items():
        rows = list(read_unlabeled(per_file=5)) if name == "unlabeled" else list(reader())
        assert rows, name
        assert all(check_record({k: v for k, v in r.items() if k != "source"}) == [] for r in rows[:50]), name
