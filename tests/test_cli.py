import csv
import json

import pytest

from conftest import SCAMS, write_jsonl
from scamdetect.cli import main


def read_jsonl(p):
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def test_score_jsonl_keeps_fields_and_adds_predictions(tmp_path, tiny_model_dir, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "url": f"https://x/{i}", "text": t} for i, t in enumerate(SCAMS)])
    out = tmp_path / "out.jsonl"
    assert main(["score", str(src), "-o", str(out), "-m", str(tiny_model_dir)]) == 0
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == list(range(len(SCAMS)))
    assert all(r["url"].startswith("https://x/") and r["model_id"] == "tiny-test" for r in rows)
    assert all({"score", "label", "reasons", "entities", "red_flags"} <= set(r) for r in rows)
    assert f"read {len(SCAMS)}, scored {len(SCAMS)}, rejected 0" in capsys.readouterr().err


def test_malformed_rows_go_to_rejects_and_nothing_is_lost(tmp_path, tiny_model_dir, capsys):
    src = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": 1, "text": SCAMS[0]}), "{bad json", json.dumps({"id": 3}),
             json.dumps({"id": 4, "text": ""}), json.dumps({"id": 5, "text": 42}), json.dumps([1, 2]),
             json.dumps({"id": 7, "text": "x" * 30000})]
    src.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": 8, "text": "\xff\xfe bad bytes"}\n')
    out = tmp_path / "out.jsonl"
    assert main(["score", str(src), "-o", str(out), "-m", str(tiny_model_dir)]) == 0
    rejects = read_jsonl(tmp_path / "out.jsonl.rejects.jsonl")
    reasons = {r["line"]: r["reason"] for r in rejects}
    assert len(read_jsonl(out)) == 1 and len(rejects) == 7
    assert reasons[2].startswith("bad JSON") and reasons[3] == "missing text field 'text'"
    assert reasons[4] == "empty text" and "not a string" in reasons[5] and "not a JSON object" in reasons[6]
    assert "longer than" in reasons[7] and reasons[8] == "invalid UTF-8"
    assert "read 8, scored 1, rejected 7" in capsys.readouterr().err


def test_score_csv_with_custom_text_column(tmp_path, tiny_model_dir):
    src = tmp_path / "in.csv"
    with src.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["post_id", "caption"])
        w.writerows([[i, t] for i, t in enumerate(SCAMS[:3])])
    out = tmp_path / "out.csv"
    assert main(["score", str(src), "-o", str(out), "-m", str(tiny_model_dir), "--text-field", "caption"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["post_id"] for r in rows] == ["0", "1", "2"]
    assert json.loads(rows[0]["entities"]) and rows[0]["red_flags"]


def test_parallel_scoring_gives_the_same_output(tmp_path, tiny_model_dir):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": SCAMS[i % len(SCAMS)]} for i in range(50)])
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert main(["score", str(src), "-o", str(one), "-m", str(tiny_model_dir), "-q"]) == 0
    assert main(["score", str(src), "-o", str(two), "-m", str(tiny_model_dir), "-q", "-j", "2"]) == 0
    assert one.read_text() == two.read_text()


@pytest.mark.parametrize("setup, message", [
    (lambda d: d / "missing.jsonl", "not found"),
    (lambda d: (d / "in.csv").write_text("id,body\n1,hello\n") and d / "in.csv", "no column 'text'"),
    (lambda d: write_jsonl(d / "in.jsonl", [{"body": "hello"}, {"body": "again"}]), "no row"),
    (lambda d: (d / "in.txt").write_text("hello\n") and d / "in.txt", "cannot tell the format"),
])
def test_unusable_input_says_why_and_exits_non_zero(tmp_path, tiny_model_dir, capsys, setup, message):
    src = setup(tmp_path)
    out = tmp_path / "out.jsonl"
    assert main(["score", str(src), "-o", str(out), "-m", str(tiny_model_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_tampered_model_is_refused_by_the_cli(tmp_path, tiny_model_dir, capsys):
    import shutil

    bad = shutil.copytree(tiny_model_dir, tmp_path / "bad")
    (bad / "weights.npz").write_bytes(b"junk")
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": SCAMS[0]}])
    assert main(["score", str(src), "-o", str(tmp_path / "o.jsonl"), "-m", str(bad)]) == 2
    assert "checksum" in capsys.readouterr().err


def test_explain_and_info(tiny_model_dir, capsys):
    assert main(["explain", SCAMS[0], "-m", str(tiny_model_dir)]) == 0
    assert "Red flags" in capsys.readouterr().out
    assert main(["explain", SCAMS[0], "-m", str(tiny_model_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model_id"] == "tiny-test"
    assert main(["info", str(tiny_model_dir)]) == 0
    assert "tiny-test" in capsys.readouterr().out


def test_data_validate_exit_codes(tmp_path, capsys):
    assert main(["data", "validate"]) == 0
    assert "corpus OK" in capsys.readouterr().out
    bad = tmp_path / "c"
    bad.mkdir()
    (bad / "a.jsonl").write_text('{"id": 1}\n')
    assert main(["data", "validate", "--corpus", str(bad), "--splits", str(tmp_path / "none.json")]) == 1
    assert "problem" in capsys.readouterr().err


def test_csv_saved_by_excel_with_a_bom(tmp_path, tiny_model_dir):
    src = tmp_path / "in.csv"
    src.write_bytes(f'\ufefftext,id\n"{SCAMS[0]}",1\n'.encode())
    out = tmp_path / "out.jsonl"
    assert main(["score", str(src), "-o", str(out), "-m", str(tiny_model_dir), "-q"]) == 0
    assert read_jsonl(out)[0]["id"] == "1"


def test_data_evaluate_scores_a_labelled_file_and_lists_the_mistakes(tmp_path, tiny_model_dir, capsys):
    legit = "Dicari kasir minimarket di Bandung, gaji UMR, kirim lamaran ke kantor kami."
    rows = [{"text": t, "label": 1, "category": "scam_overseas"} for t in SCAMS[:3]]
    rows += [{"text": legit, "label": 0, "category": "legit_domestic"}, {"text": SCAMS[3], "label": 0, "category": "other_social"}]
    src = write_jsonl(tmp_path / "labelled.jsonl", rows)
    out = tmp_path / "eval.json"
    assert main(["data", "evaluate", str(src), "-m", str(tiny_model_dir), "--by", "category", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    m = res["metrics"]
    assert m["n"] == 5 and m["positives"] == 3 and m["tp"] + m["fn"] == 3 and m["fp"] + m["tn"] == 2
    wrong = m["fp"] + m["fn"]
    assert len(res["errors"]) == wrong and sum(g["errors"] for g in res["by"]["category"].values()) == wrong
    # a scam labelled 0 is a mistake the model must report, with the row it came from
    assert {"row": 5, "label": 0} in [{k: e[k] for k in ("row", "label")} for e in res["errors"]]
    printed = capsys.readouterr().out
    assert "on 5 posts (3 scams)" in printed and "post 5: false flag" in printed


def test_data_evaluate_refuses_an_unlabelled_row(tmp_path, tiny_model_dir, capsys):
    src = tmp_path / "labelled.jsonl"
    src.write_text(json.dumps({"text": SCAMS[0], "label": 1}) + "\n" + json.dumps({"text": SCAMS[1]}) + "\n")
    assert main(["data", "evaluate", str(src), "-m", str(tiny_model_dir)]) == 2
    assert "labelled.jsonl:2: no 'label' field" in capsys.readouterr().err
