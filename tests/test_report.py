"""Takedown reports: rows, campaigns, accounts, every format, bad input, the CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from conftest import SCAMS, write_jsonl
from scamdetect.cli import main
from scamdetect.outputs import Report, ReportInputError, build_report, read_decisions, read_scored, write_report
from scamdetect.outputs.report import COLUMNS, build_report_file

GOLDEN = Path(__file__).parent / "golden" / "report.json"
MODEL = {"model_id": "golden-model", "threshold": 0.5, "created": "2026-11-01T00:00:00Z"}
REASON = {
    "destination_hub": ("Tujuan kerja negara yang menjadi pusat online scam", "Workplace in a scam-compound country"),
    "costs_covered": ("Tiket, visa, paspor, mess dan makan \"ditanggung\" atau gratis", "Costs promised as paid"),
    "task_scam": ("Tugas like / follow berbayar lalu diminta top up", "Paid tasks, then a top-up"),
    "personal_bank_account": ("Pembayaran ke rekening pribadi", "Payment to a personal bank account"),
}
TEMPLATE_A = ("Lowongan admin ke Kamboja gaji 15jt per bulan tiket visa dan mess ditanggung tanpa pengalaman "
              "langsung berangkat minggu ini kuota terbatas hubungi WA {phone}")


def reason(rule: str, text: str, word: str) -> dict:
    start = text.index(word)
    return {"rule": rule, "weight": 1.0, "id": REASON[rule][0], "en": REASON[rule][1],
            "spans": [{"start": start, "end": start + len(word), "text": word}]}


def scored(pid: str, text: str, score: float, *, rules: tuple[tuple[str, str], ...] = (),
           entities: tuple[dict, ...] = (), **fields) -> dict:
    """A row as `scamdetect score` writes it."""
    reasons = [reason(r, text, w) for r, w in rules]
    return {"id": pid, **fields, "text": text, "score": score, "label": "scam" if score >= 0.5 else "not_scam",
            "threshold": MODEL["threshold"], "model_id": MODEL["model_id"], "reasons": reasons, "mitigating": [],
            "terms": [], "entities": list(entities), "red_flags": [r["rule"] for r in reasons]}


def phone(v: str) -> dict:
    return {"kind": "phone", "value": v, "text": v, "start": 0, "end": 1}


def fixture_rows() -> list[dict]:
    a1, a2 = TEMPLATE_A.format(phone="0812-3456-7890"), TEMPLATE_A.format(phone="0857-1111-2222")
    b = "Dicari CS online Phnom Penh, semua biaya ditanggung, chat WA 0812 3456 7890 sekarang juga"
    c = "Kerja dari HP cuma like dan follow dibayar 5rb per tugas, top up 200rb ke BCA 1234567890 join t.me/misi_cuan"
    d = "Misi VIP cuan harian, transfer deposit ke rek BCA 1234567890 a.n. budi, admin @Misi_Cuan"
    evil = 'Loker <script>document.title="pwned"</script><img src=x onerror="document.title=1"> gaji 20jt Kamboja'
    return [
        scored("p1", a1, 0.98, rules=(("destination_hub", "Kamboja"), ("costs_covered", "ditanggung")),
               entities=(phone("+6281234567890"), {"kind": "destination", "value": "KH", "text": "Kamboja",
                                                   "start": 0, "end": 1, "place": "kamboja"}),
               platform="facebook", url="https://facebook.com/groups/loker/posts/1", account="@agen.kamboja1",
               captured_at="2026-11-20T03:00:00Z"),
        scored("p2", a2, 0.97, rules=(("destination_hub", "Kamboja"),), entities=(phone("+6285711112222"),),
               platform="IG", url="https://instagram.com/p/2", account="@loker.asia22",
               captured_at="2026-11-21T09:30:00+07:00", posted_at="2026-11-19T08:00:00+07:00"),
        scored("p3", b, 0.91, rules=(("destination_hub", "Phnom Penh"),), entities=(phone("+6281234567890"),),
               platform="tiktok", url="", account="@cs.online", captured_at="2026-11-22T01:00:00Z"),
        scored("p4", c, 0.88, rules=(("task_scam", "like dan follow"),),
               entities=({"kind": "handle", "value": "@misi_cuan", "text": "t.me/misi_cuan", "start": 0, "end": 1,
                          "platform": "telegram"},
                         {"kind": "bank_account", "value": "BCA 1234567890", "text": "BCA 1234567890", "start": 0,
                          "end": 1, "bank": "BCA"}),
               platform="telegram", url="https://t.me/kerjaasia/4", account="@kerjaasia", captured_at=1763600000),
        scored("p5", d, 0.8, rules=(("personal_bank_account", "rek BCA"),),
               entities=({"kind": "bank_account", "value": "BCA 1234567890", "text": "rek BCA 1234567890", "start": 0,
                          "end": 1, "bank": "BCA", "owner": "budi"},
                         {"kind": "handle", "value": "@Misi_Cuan", "text": "@Misi_Cuan", "start": 0, "end": 1,
                          "platform": "telegram"}),
               platform="Twitter", url="https://x.com/misi/status/5", account="@misi", captured_at="2026-11-18 12:00:00"),
        scored("p6", "Lowongan admin ke Kamboja, gaji besar, hubungi kami", 0.7, rules=(("destination_hub", "Kamboja"),),
               platform="facebook", url="https://facebook.com/6", account="@agen.resmi", captured_at="2026-11-20T00:00:00Z"),
        scored("p7", "Liburan ke Kamboja seru sekali", 0.3, platform="facebook", url="https://facebook.com/7",
               account="@jalan2", captured_at="2026-11-20T00:00:00Z"),
        scored("p8", evil, 0.95, rules=(("destination_hub", "Kamboja"),), platform="x", url="javascript:alert(1)",
               account='=HYPERLINK("http://evil.example","klik")', captured_at="2026-11-19T00:00:00Z"),
    ]


DECISIONS = {"p1": "confirmed", "p6": "rejected", "gone": "rejected"}


@pytest.fixture()
def report() -> Report:
    return build_report(fixture_rows(), decisions=DECISIONS, models=[MODEL], source="fixture.jsonl")


def comparable(rep: Report) -> dict:
    d = json.loads(json.dumps(rep.to_dict(), ensure_ascii=False))
    d["report"].pop("generated_at_wib")
    d["report"].pop("scamdetect_version")
    return d


def test_golden(report: Report) -> None:
    got = comparable(report)
    if os.environ.get("SCAMDETECT_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    assert got == json.loads(GOLDEN.read_text(encoding="utf-8")), "set SCAMDETECT_UPDATE_GOLDEN=1 after a deliberate change"


def test_rows_carry_what_a_takedown_report_needs(report: Report) -> None:
    rows = {r["id"]: r for r in report.rows}
    assert [r["id"] for r in report.rows] == ["p1", "p2", "p3", "p4", "p5", "p8"]  # by campaign, then account
    p1 = rows["p1"]
    assert set(COLUMNS) <= set(p1)
    assert p1["captured_at_wib"] == "2026-11-20T10:00:00+07:00" and p1["platform"] == "facebook"
    assert p1["account_url"] == "https://www.facebook.com/agen.kamboja1"
    assert p1["text_sha256"] == hashlib.sha256(p1["text"].encode()).hexdigest()
    assert p1["category"] == "scam_overseas" and any("UU 21/2007" in x for x in p1["legal_basis"])
    assert p1["red_flags"] == ["destination_hub", "costs_covered"]
    assert p1["red_flags_id"][0].startswith("Tujuan kerja") and "«Kamboja»" in p1["red_flags_id"][0]
    assert p1["phones"] == ["+6281234567890"] and p1["destinations"] == ["KH"]
    assert p1["model_version"] == "golden-model@2026-11-01T00:00:00Z" and p1["threshold"] == 0.5
    assert p1["review_status"] == "confirmed" and rows["p2"]["review_status"] == "pending"
    assert rows["p2"]["platform"] == "instagram" and rows["p5"]["platform"] == "x"
    assert rows["p3"]["complete"] is False and rows["p3"]["missing"] == ["url"]  # kept, marked
    assert rows["p4"]["captured_at_wib"] == "2025-11-20T07:53:20+07:00"  # Unix time
    assert rows["p5"]["captured_at_wib"] == "2026-11-18T19:00:00+07:00"  # naive = UTC
    assert rows["p4"]["category"] == "scam_domestic" and rows["p4"]["legal_basis"] == [
        "UU ITE Pasal 28 ayat (1) (informasi menyesatkan)"]
    assert rows["p4"]["telegram_handles"] == ["@misi_cuan"] and rows["p5"]["bank_accounts"] == ["BCA 1234567890 a.n. budi"]
    c = report.meta["counts"]
    assert (c["read"], c["flagged"], c["below_threshold"], c["rejected_by_review"], c["rows"]) == (8, 7, 1, 1, 6)
    assert (c["confirmed"], c["incomplete"], c["decisions_unmatched"]) == (1, 1, 1)


def test_campaigns_join_near_duplicates_and_shared_contacts(report: Report) -> None:
    by_id = {c["campaign_id"]: c for c in report.campaigns}
    assert [c["post_ids"] for c in report.campaigns] == [["p1", "p2", "p3"], ["p4", "p5"], ["p8"]]
    c1 = by_id["C0001"]
    assert c1["posts"] == 3 and c1["account_count"] == 3 and c1["platforms"] == ["facebook", "instagram", "tiktok"]
    assert c1["shared_contacts"]["phones"] == ["+6281234567890"]
    assert c1["linked_by"] == ["near_duplicate_text", "shared_phone"]
    assert (c1["first_seen"], c1["last_seen"]) == ("2026-11-19T08:00:00+07:00", "2026-11-22T08:00:00+07:00")
    assert c1["incomplete_posts"] == 1
    c2 = by_id["C0002"]
    assert c2["shared_contacts"]["telegram_handles"] == ["@misi_cuan"]
    assert c2["linked_by"] == ["shared_bank_account", "shared_telegram"]  # @Misi_Cuan == @misi_cuan
    assert by_id["C0003"]["linked_by"] == []
    assert {r["id"]: r["campaign_id"] for r in report.rows}["p2"] == "C0001"
    assert len(report.accounts) == 6 and all(a["posts"] == 1 for a in report.accounts)
    assert report.accounts[0]["campaigns"] == ["C0001"] and report.accounts[0]["account"] == "@agen.kamboja1"


def test_no_text_grouping_keeps_contact_links(report: Report) -> None:
    rep = build_report(fixture_rows(), models=[MODEL], near_duplicate=None)
    assert ["p1", "p3"] in [c["post_ids"] for c in rep.campaigns]


def test_min_score_and_decisions_file(tmp_path: Path) -> None:
    dec = tmp_path / "decisions.csv"
    dec.write_text("id,decision,reviewer,note\np7,Approved,Rina,checked\np2,false positive,Budi,\np2,reject,Budi,again\n",
                   encoding="utf-8")
    decisions = read_decisions(dec)
    assert decisions["p7"].decision == "confirmed" and decisions["p7"].reviewer == "Rina"
    rep = build_report(fixture_rows(), min_score=0.2, decisions=decisions, models=[MODEL])
    ids = {r["id"] for r in rep.rows}
    assert "p7" in ids and "p2" not in ids and rep.meta["selection"] == "score >= 0.2"
    assert next(r for r in rep.rows if r["id"] == "p7")["review_note"] == "checked"


def test_every_format(report: Report, tmp_path: Path) -> None:
    for ext in ("json", "csv", "xlsx", "html"):
        assert write_report(report, tmp_path / f"r.{ext}").stat().st_size > 0
    assert not list(tmp_path.glob("*.part"))
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8")) == json.loads(
        json.dumps(report.to_dict(), ensure_ascii=False))

    with (tmp_path / "r.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == COLUMNS and [r["id"] for r in rows] == [r["id"] for r in report.rows]
    p8 = next(r for r in rows if r["id"] == "p8")
    assert p8["account"].startswith("'=HYPERLINK")  # never a live formula in a spreadsheet
    p1 = next(r for r in rows if r["id"] == "p1")
    assert p1["phones"] == "+6281234567890" and p1["account"] == "@agen.kamboja1" and p1["complete"] == "yes"
    assert p1["legal_basis"].count(" | ") == 2

    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert wb.sheetnames == ["Summary", "Accounts", "facebook", "instagram", "telegram", "tiktok", "x"]
    fb = list(wb["facebook"].values)
    assert fb[0] == COLUMNS and [r[0] for r in fb[1:]] == ["p1"]
    x = {r[0]: dict(zip(COLUMNS, r)) for r in list(wb["x"].values)[1:]}
    assert x["p8"]["account"].startswith("=HYPERLINK") and x["p5"]["bank_accounts"] == "BCA 1234567890 a.n. budi"
    acc_cell = wb["x"].cell(row=[r[0] for r in wb["x"].values].index("p8") + 1, column=COLUMNS.index("account") + 1)
    assert acc_cell.data_type == "s"  # stored as text, not as a formula
    summary = [r for r in wb["Summary"].values]
    assert ("campaign_id", "posts") == summary[[r[0] for r in summary].index("campaign_id")][:2]
    assert any(r[0] == "C0001" and r[1] == 3 for r in summary)

    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script" not in html and "&lt;script&gt;" in html and 'href="javascript' not in html
    assert html.count('<section class="campaign"') == 3 and "UU 21/2007" in html


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.mark.skipif(_chromium() is None, reason="needs a headless Chromium (Debian: apt-get install chromium)")
def test_html_renders_in_headless_chromium(report: Report, tmp_path: Path) -> None:
    page = write_report(report, tmp_path / "r.html")
    base = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True)
    out = dom.stdout
    assert "<title>Daftar laporan takedown" in out and 'id="C0003"' in out
    assert "pwned" not in out.split("</title>")[0]  # the post's script never ran
    assert "<img" not in out and "<script" not in out  # the post's markup stayed text
    assert "&lt;script&gt;document.title" in out and "Kerja dari HP cuma like" in out
    pdf = tmp_path / "r.pdf"
    subprocess.run([*base, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    data = pdf.read_bytes()
    pages = max(int(n) for n in re.findall(rb"/Count (\d+)", data))
    assert data.startswith(b"%PDF") and pages >= 4  # the front page, then each campaign on a page of its own


def test_empty_report_writes_every_format(tmp_path: Path) -> None:
    rep = build_report([fixture_rows()[6]], models=[MODEL])
    assert rep.rows == [] and rep.campaigns == []
    for ext in ("json", "csv", "xlsx", "html"):
        write_report(rep, tmp_path / f"r.{ext}")
    assert openpyxl.load_workbook(tmp_path / "r.xlsx").sheetnames == ["Summary", "Accounts", "posts"]


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(model_id="someone-else"), "row 1 (id 'p1'): scored by model 'someone-else', which is not a known"),
    (lambda r: r.update(threshold=0.42), "unknown version of 'golden-model' (threshold 0.420000"),
    (lambda r: r.pop("entities"), "row 1 (id 'p1'): missing required field(s) 'entities'"),
    (lambda r: r.pop("text"), "missing required field(s) 'text'"),
    (lambda r: r.update(score="high"), "field 'score' is not a number"),
    (lambda r: r.update(score=1.5), "field 'score' must be between 0 and 1"),
    (lambda r: r.update(captured_at="yesterday"), "row 1 (id 'p1'), capture time: not an ISO 8601 time"),
    (lambda r: r.update(reasons="destination_hub"), "field 'reasons' must be a list of objects"),
])
def test_bad_rows_get_a_clear_error(change, message) -> None:
    rows = fixture_rows()
    change(rows[0])
    with pytest.raises(ReportInputError) as err:
        build_report(rows, models=[MODEL])
    assert message in str(err.value)


def test_duplicate_ids_and_bad_decisions() -> None:
    rows = fixture_rows()
    rows[3]["id"] = "p1"
    with pytest.raises(ReportInputError, match="row 4 .*id 'p1' already used by row 1"):
        build_report(rows, models=[MODEL])
    with pytest.raises(ReportInputError, match="unknown decision 'maybe'"):
        build_report(fixture_rows(), models=[MODEL], decisions={"p1": "maybe"})


def test_decisions_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "d.csv"
    bad.write_text("post,verdict\np1,rejected\n", encoding="utf-8")
    with pytest.raises(ReportInputError, match="needs the columns id and decision"):
        read_decisions(bad)
    bad.write_text("id,decision\np1,rejected\np2,perhaps\n", encoding="utf-8")
    with pytest.raises(ReportInputError, match=r"d.csv:3: unknown decision 'perhaps'"):
        read_decisions(bad)


def test_read_scored_errors(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps(fixture_rows()[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ReportInputError, match="s.jsonl:2: not valid JSON"):
        list(read_scored(p))
    with pytest.raises(ReportInputError, match="not found"):
        list(read_scored(tmp_path / "missing.jsonl"))
    bad = tmp_path / "s.csv"
    bad.write_bytes(b"id,text\n1,\xff\xfe\n")
    with pytest.raises(ReportInputError, match="not valid UTF-8"):
        list(read_scored(bad))


def test_cli_scores_then_reports(tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture) -> None:
    posts = [{"id": f"s{i}", "platform": "facebook", "url": f"https://facebook.com/{i}", "account": f"@acc{i % 3}",
              "captured_at": "2026-11-20T10:00:00+07:00", "text": t} for i, t in enumerate(SCAMS)]
    src = write_jsonl(tmp_path / "posts.jsonl", posts)
    for ext in ("jsonl", "csv"):  # both files `scamdetect score` writes
        out = tmp_path / f"scored.{ext}"
        assert main(["score", str(src), "-o", str(out), "-m", str(tiny_model_dir), "-q"]) == 0
        rep = tmp_path / f"report-{ext}.xlsx"
        assert main(["report", str(out), "-o", str(rep), "-m", str(tiny_model_dir)]) == 0
        assert "campaigns" in capsys.readouterr().err
        sheets = openpyxl.load_workbook(rep).sheetnames
        assert sheets[:2] == ["Summary", "Accounts"] and set(sheets[2:]) <= {"facebook"}
    (tmp_path / "d.csv").write_text("id,decision\n" + "".join(f"s{i},rejected\n" for i in range(len(SCAMS))))
    assert main(["report", str(tmp_path / "scored.jsonl"), "-o", str(tmp_path / "r.json"), "-m", str(tiny_model_dir),
                 "--decisions", str(tmp_path / "d.csv"), "--min-score", "0"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["rows"] == []


def test_cli_user_errors_exit_2_without_traceback(tmp_path: Path, tiny_model_dir: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    scored_file = write_jsonl(tmp_path / "s.jsonl", fixture_rows())
    assert main(["report", str(scored_file), "-o", str(tmp_path / "r.pdf")]) == 2
    assert "use .xlsx, .csv, .html or .json" in capsys.readouterr().err
    assert main(["report", str(scored_file), "-o", str(tmp_path / "r.csv"), "-m", str(tiny_model_dir)]) == 2
    err = capsys.readouterr().err
    assert "scored by model 'golden-model', which is not a known model" in err and "Traceback" not in err
    assert not (tmp_path / "r.csv").exists()


def test_sheet_names_are_valid_and_unique(tmp_path: Path) -> None:
    rows = fixture_rows()[:3]
    rows[0]["platform"], rows[1]["platform"], rows[2]["platform"] = "summary", "groups/fb:[old]*", "x" * 40
    rows[0]["caption"] = rows[0].pop("text")
    for r in rows[1:]:
        r["caption"] = r.pop("text")
    rep = build_report(rows, models=[MODEL], text_field="caption")
    write_report(rep, tmp_path / "r.xlsx")
    names = openpyxl.load_workbook(tmp_path / "r.xlsx").sheetnames
    assert names[:2] == ["Summary", "Accounts"] and "summary (2)" in names and "groups_fb__old__" in names
    assert all(len(n) <= 31 for n in names) and len({n.lower() for n in names}) == len(names)


def test_parallel_file_path_matches_the_library_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scamdetect.outputs.report import build as build_mod

    monkeypatch.setattr(build_mod, "_BLOCK", 1500)  # several blocks, so several work units
    src = write_jsonl(tmp_path / "fixture.jsonl", fixture_rows())
    one = build_report(fixture_rows(), decisions=DECISIONS, models=[MODEL], source="fixture.jsonl")
    two = build_report_file(src, decisions=DECISIONS, models=[MODEL], jobs=2)
    assert comparable(two) == comparable(one)
    rows = fixture_rows()
    rows[5]["id"] = "p2"
    write_jsonl(src, rows)
    with pytest.raises(ReportInputError, match=r"line 6 of fixture.jsonl \(id 'p2'\): id 'p2' already used by line 2"):
        build_report_file(src, models=[MODEL], jobs=2)
    src.write_text(src.read_text() + "{oops\n")
    with pytest.raises(ReportInputError, match="fixture.jsonl:9: not valid JSON"):
        build_report_file(src, models=[MODEL], jobs=2)


def test_known_models_skips_a_broken_manifest_under_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scamdetect.outputs.report import known_models

    for name, text in (("good", json.dumps(MODEL)), ("half-written", '{"model_id": "x", "thr')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(text)
    monkeypatch.setenv("SCAMDETECT_MODELS", str(tmp_path))
    assert [m["model_id"] for m in known_models()] == ["golden-model"]
    assert build_report(fixture_rows()).meta["counts"]["rows"] == 7  # models=None: read from models/
    with pytest.raises(ReportInputError, match="cannot read the model manifest"):
        known_models([tmp_path / "half-written"])
