import pytest

from scamdetect.normalize import normalize
from scamdetect.signals import RuleError, RuleSet, analyze, extract, load_rules, rules_from_yaml

RULES = RuleSet(load_rules())


def fired(text):
    return {h.rule_id for h in analyze(text, RULES).hits}


# (rule, posts it must fire on, posts it must not fire on)
CASES = [
    ("role_admin_cs", ["dicari admin online", "butuh CS ke luar negeri", "Indonesian speakers wanted"],
     ["chat admin untuk order", "kiriman sampai besok"]),
    ("destination_hub", ["kerja di Kamboja", "lokasi Myawaddy", "ke 🇹🇭"], ["kerja di Surabaya", "kuliah di Jepang"]),
    ("destination_hidden", ["kerja di negara tetangga", "lokasi dirahasiakan"], ["negara kita indah"]),
    ("salary_high", ["gaji 15jt/bulan", "salary USD 1,500"], ["gaji 4,5jt/bulan", "harga 20jt nego"]),
    ("salary_ordinary", ["gaji 2,8jt + bonus omzet", "gaji Rp 4.500.000/bulan"], ["gaji 15jt/bulan", "harga 3,4jt nego"]),
    ("costs_covered", ["tiket dan visa ditanggung", "free tiket, makan, mess", "kabeh dibayari"],
     ["tiket konser habis", "makan siang disediakan"]),
    ("low_requirements", ["tanpa pengalaman", "bisa mengetik", "min SMA"], ["S1 akuntansi pengalaman 3 tahun"]),
    ("fast_departure", ["langsung berangkat", "kuota terbatas", "proses cepat"], ["berangkat kerja jam 7"]),
    ("tourist_visa_route", ["pakai visa turis dulu", "visa kunjungan"], ["visa kerja resmi"]),
    ("unlicensed_route", ["jalur mandiri", "tanpa PT", "Ra usah PT"], ["lewat PT resmi"]),
    ("fee_upfront", ["biaya pendaftaran 150rb", "transfer ke rekening dana dulu", "bayar seragam dan ID card"],
     ["biaya pendaftaran gratis", "tanpa biaya"]),
    ("big_name_impersonation", ["PT Pertamina membuka lowongan"], ["harga pertamax naik"]),
    ("free_mail_hr", ["kirim cv ke hrd.pertamina@gmail.com"], ["kirim cv ke hrd@pertamina.com"]),
    ("insider_slot", ["lewat orang dalam", "dijamin lolos", "jual SK honorer jadi PPPK, 60jt",
                      "Ambo ado urang dalam", "1 kursi 120 juta, bisa dicicia", "PPPK Sumenep, langsong SK, ta' osah tes"],
     ["orang tua saya", "gaji PPPK 3 juta sebulan", "slot 3 orang, gaji 15jt"]),
    ("wfh_income_pitch", ["kerja dari HP", "cocok untuk IRT", "bukan MLM", "penghasilan 500rb per hari"],
     ["gaji 100rb/hari tukang cuci motor"]),
    ("task_scam", ["like video dibayar 5rb", "top up 200rb balik 380rb", "lucky combination order",
                   "kasih bintang 5 ke produk, sehari 500rb", "top up heula 100rb supados akun aktif", "modal 50k balik 500k",
                   "menyukai video YouTube dan mengirim tangkapan layar. 1 video = Rp 20.000", "like karo follow, per tugas 10rb"],
     ["like dan share ya", "top up pulsa 50rb", "pelayanan ramah, kasih bintang 5 deh", "like & follow, ss buktinya ya"]),
    ("tourist_visa_route", ["tourist visa first", "masok pakai cop pelancong 30 hari"], ["student visa"]),
    ("warning_language", ["waspada modus penipuan", "korban TPPO", "ditawarin CS di Kamboja, aman gak sih?",
                          "Hati-hati ki semua", "Iki temenan ora to lur?", "Ini beneran kaga sih?", "ini beneran gk sih?", "kok aku curiga",
                          "PSA: this is a scam compound", "udah gw report + block",
                          "police said on Tuesday they had rescued 19 people"],
     ["lowongan admin", "hatinya baik", "100% real, no scam", "bukan scam kak"]),
    ("licensed_channel", ["P3MI dengan SIP3MI", "program G to G", "EPS-TOPIK"], ["jalur mandiri"]),
    ("obfuscated_text", ["K4mb0j4 g4ji", "Mуanmar ᴀᴅᴍɪɴ"], ["Kamboja gaji"]),
    ("personal_bank_account", ["transfer ke rek BRI 1234567890123 a.n. Siti"], ["bank BRI buka jam 8"]),
    ("ordinary_terms", ["gaji UMR Jakarta", "NO BIAYA APAPUN, tidak dipungut biaya", "kantor di Jl. Sam Ratulangi"],
     ["jalan-jalan ke Bangkok", "gaji 15jt, tiket ditanggung"]),
    ("travel_offer", ["open trip Bangkok 4D3N", "paket wisata Siem Reap", "paket umroh all in"], ["kerja di Bangkok"]),
    ("job_context", ["loker admin", "dicari kasir", "we are hiring"], ["paket umroh all in", "liburan ke Bangkok"]),
]


@pytest.mark.parametrize("rule, text", [(r, t) for r, pos, _ in CASES for t in pos])
def test_rule_fires(rule, text):
    assert rule in fired(text)


@pytest.mark.parametrize("rule, text", [(r, t) for r, _, neg in CASES for t in neg])
def test_rule_stays_quiet(rule, text):
    assert rule not in fired(text)


def test_every_rule_has_a_case():
    assert {r.id for r in load_rules()} - {c[0] for c in CASES} <= {
        "salary_dollar", "interview_remote", "contact_private_channel", "group_funnel", "walkin_whatsapp_hrd",
        "private_contact_number", "company_identity"}


def test_hits_carry_original_spans_and_both_languages():
    text = "Loker K4MB0JA, visa turis, tiket ditanggung"
    for h in analyze(text, RULES).hits:
        assert h.description_id and h.description_en
        for s in h.spans:
            assert text[s.start:s.end] == s.text
    hub = next(h for h in analyze(text, RULES).hits if h.rule_id == "destination_hub")
    assert hub.spans[0].text == "K4MB0JA"


def test_fast_engine_agrees_with_plain_rules():
    from pathlib import Path
    import json

    plain = load_rules()
    corpus = Path(__file__).resolve().parents[1] / "data" / "corpus"
    texts = [json.loads(line)["text"] for f in sorted(corpus.glob("*.jsonl"))[:3] for line in f.open()]
    for text in texts + ["Loker admin Kamboja gaji 15jt, tiket ditanggung, WA 0812-3456-7890 🇰🇭 Mуanmar"]:
        slow, fast = analyze(text, plain).hits, analyze(text, RULES).hits
        assert [h.rule_id for h in slow] == [h.rule_id for h in fast], text
        for h in fast:  # spans may be cut differently, but always point at the original text
            assert all(text[s.start:s.end] == s.text and s.end > s.start for s in h.spans)


def test_rules_from_yaml_file(tmp_path):
    f = tmp_path / "extra.yaml"
    f.write_text("- id: casino_job\n  weight: 1.0\n  description: {id: Kerja kasino, en: Casino job}\n"
                 "  patterns: ['\\bkasino\\b']\n", encoding="utf-8")
    rules = load_rules(f)
    assert "casino_job" in {h.rule_id for h in analyze("kerja di kasino", rules).hits}


@pytest.mark.parametrize("yaml_text, message", [
    ("- id: x\n  weight: 1\n  description: {id: a, en: b}\n  patterns: ['(unclosed']\n", "bad pattern"),
    ("- id: x\n  weight: 1\n  patterns: ['a']\n", "description"),
    ("- id: x\n  weight: 1\n  description: {id: a, en: b}\n  check: nope\n", "unknown check"),
    ("- id: Bad-Id\n  weight: 1\n  description: {id: a, en: b}\n  patterns: ['a']\n", "lowercase"),
    ("- id: x\n  weight: 1\n  description: {id: a, en: b}\n", "patterns or check"),
    ("not: a list\n", "list of rules"),
])
def test_bad_rule_files_are_refused(yaml_text, message):
    with pytest.raises(RuleError, match=message):
        rules_from_yaml(yaml_text)


def test_duplicate_rule_ids_are_refused(tmp_path):
    f = tmp_path / "dup.yaml"
    f.write_text("- id: tourist_visa_route\n  weight: 1\n  description: {id: a, en: b}\n  patterns: ['x']\n")
    with pytest.raises(RuleError, match="duplicate"):
        load_rules(f)


def test_extract_then_rules_on_disguised_post():
    norm = normalize("G 4 J 1 $1500, 🆓 tiket + mess, Mуanmar")
    ids = {h.rule_id for h in RULES.apply(norm, extract(norm))}
    assert {"salary_high", "costs_covered", "destination_hub"} <= ids


def test_spans_are_right_after_emoji_and_wide_characters():
    text = "🔥🔥 𝗟𝗢𝗞𝗘𝗥 💯 tiket ditanggung, kerja di Kamboja 🇰🇭 gaji 15jt"
    hits = {h.rule_id: h for h in analyze(text, RULES).hits}
    assert [s.text for s in hits["costs_covered"].spans] == ["tiket ditanggung"]
    assert [s.text for s in hits["destination_hub"].spans] == ["Kamboja", "🇰🇭"]


def test_rules_work_without_hyperscan(monkeypatch):
    """Machines where Hyperscan does not build (non-x86) fall back to RE2 and Python, same hits."""
    import sys

    monkeypatch.setitem(sys.modules, "hyperscan", None)  # import hyperscan -> ImportError
    portable = RuleSet(load_rules())
    assert portable._scanner is None
    for text in ["Loker admin Kamboja gaji 15jt, tiket ditanggung, WA 0812-3456-7890",
                 "Waspada modus penipuan, korban TPPO; P3MI resmi ber-SIP3MI", "kerja dari HP 500rb/hari bukan MLM"]:
        assert [h.rule_id for h in analyze(text, portable).hits] == [h.rule_id for h in analyze(text, RULES).hits]


def test_compiled_patterns_are_cached_and_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    pytest.importorskip("hyperscan")
    monkeypatch.setenv("SCAMDETECT_CACHE", str(tmp_path))
    text = "Loker admin Kamboja gaji 15jt, tiket ditanggung, WA 0812-3456-7890"
    first = [h.rule_id for h in analyze(text, RuleSet(load_rules())).hits]
    files = sorted((tmp_path / "hyperscan").glob("*.db"))
    assert files
    assert [h.rule_id for h in analyze(text, RuleSet(load_rules())).hits] == first  # loaded from the cache
    for f in files:
        f.write_bytes(b"not a database")
    assert [h.rule_id for h in analyze(text, RuleSet(load_rules())).hits] == first
    assert all(f.read_bytes() != b"not a database" for f in files)


def test_fast_rule_set_gives_the_same_hits_and_spans_as_rule_by_rule():
    """The rule set searches patterns with lookarounds only from where a match can start; a
    lookbehind must still see the text before that point."""
    from scamdetect.signals import apply_rules

    rules = load_rules()
    for text in ["Hubungi admin ya kak. Dibutuhkan admin & CS online ke Kamboja, tiket + mess ditanggung",
                 "chat admin untuk info. " * 3 + "lowongan customer service luar negeri, min SMA, gaji $800 + bonus",
                 "info lengkap DM. Lulusan SMP/SMA boleh, tanpa pengalaman, visa turis dulu nanti diurus visa kerja di sana"]:
        norm = normalize(text)
        entities = extract(norm)
        # rules without weight only feed the classifier: the rule set keeps no spans for them
        fast = [(h.rule_id, [(s.start, s.end) for s in h.spans] if h.weight else []) for h in RULES.apply(norm, entities)]
        slow = [(h.rule_id, [(s.start, s.end) for s in h.spans] if h.weight else []) for h in apply_rules(rules, norm, entities)]
        assert fast == slow
        assert dict(fast).get("role_admin_cs") or "admin" not in text.lower()
