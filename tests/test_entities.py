import pytest

from scamdetect.normalize import normalize
from scamdetect.signals import extract


def ents(text, kind):
    return [e for e in extract(normalize(text)) if e.kind == kind]


@pytest.mark.parametrize("text, e164", [
    ("WA 0812-3456-7890", "+6281234567890"),
    ("hub +62 857 1234 5678", "+6285712345678"),
    ("wa 6281398765432 ya", "+6281398765432"),
    ("call +855 12 345 678", "+85512345678"),
    ("W A 0 8 1 2 3 4 5 6 7 8 9 0", "+6281234567890"),   # spaced digits
])
def test_phone_numbers_to_e164(text, e164):
    assert [e.value for e in ents(text, "phone")] == [e164]


@pytest.mark.parametrize("text", ["gaji Rp 15.000.000 per bulan", "tahun 2024 usia 18-35", "kuota 1.500 orang"])
def test_amounts_and_dates_are_not_phones(text):
    assert ents(text, "phone") == []


def test_whatsapp_and_telegram_links():
    found = extract(normalize("daftar wa.me/6281234567890 atau t.me/rekrut_asia"))
    kinds = {(e.kind, e.value) for e in found}
    assert ("whatsapp_link", "wa.me/6281234567890") in kinds
    assert ("phone", "+6281234567890") in kinds
    assert ("telegram_link", "t.me/rekrut_asia") in kinds
    assert ("handle", "@rekrut_asia") in kinds


def test_handles_and_emails():
    assert [e.value for e in ents("lamaran ke hrd.pt@gmail.com", "email")] == ["hrd.pt@gmail.com"]
    h = ents("info telegram @kerja_kh", "handle")
    assert h[0].value == "@kerja_kh" and h[0].extra == {"platform": "telegram"}


def test_bank_account_with_owner():
    (b,) = ents("transfer ke rek BCA 1234567890 a.n. Budi Santoso, terima kasih", "bank_account")
    assert b.value == "BCA 1234567890" and b.extra["owner"] == "budi santoso"


@pytest.mark.parametrize("text, amount, currency, period", [
    ("gaji 15jt/bulan", 15e6, "IDR", "month"),
    ("gaji Rp 7.500.000", 7.5e6, "IDR", None),
    ("salary $1,200 per month", 1200, "USD", "month"),
    ("USD 800", 800, "USD", None),
    ("RM 3.500/bln", 3500, "MYR", "month"),
    ("penghasilan 350rb/hari", 350e3, "IDR", "day"),
    ("1,5 juta seminggu", 1.5e6, "IDR", "week"),
    ("gaji 1200$", 1200, "USD", None),
])
def test_money(text, amount, currency, period):
    (m,) = ents(text, "money")
    assert m.extra["amount"] == pytest.approx(amount) and m.extra["currency"] == currency
    assert m.extra["period"] == period


@pytest.mark.parametrize("text, cc", [("kerja di Phnom Penh", "KH"), ("ke Mуanmar", "MM"), ("CS 🇰🇭", "KH"),
                                      ("Shwe Kokko", "MM"), ("magang Jepang", "JP"),
                                      # a longer name that is not a whole word must not hide a shorter one
                                      ("kerja di negara Kamboja", "KH"), ("ke Korea Selatannya", "KR")])
def test_destinations(text, cc):
    assert [e.value for e in ents(text, "destination")] == [cc]


def test_entity_spans_point_into_the_original():
    text = "Gaji 𝟏𝟓𝐣𝐭, WA 0812\u200b-3456-7890"
    for e in extract(normalize(text)):
        assert text[e.start:e.end] == e.text


def test_indonesian_mobile_fast_path_agrees_with_phonenumbers():
    import random

    from scamdetect.signals.entities import _e164, _e164_library

    rng = random.Random(0)
    for _ in range(300):
        body = "8" + str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(7, 10)))
        for raw in ("0" + body, "+62" + body):
            assert _e164(raw) == _e164_library(raw), raw
        # typed without the plus, 62... means the country code
        assert _e164("62" + body) == _e164_library("+62" + body)
