import pytest

from scamdetect.normalize import normalize


@pytest.mark.parametrize("raw, expected", [
    ("Mуanmar", "myanmar"),                          # Cyrillic у
    ("Kаmbоja", "kamboja"),                          # Cyrillic а, о
    ("𝗴𝗮𝗷𝗶 𝓚𝓪𝓶𝓫𝓸𝓳𝓪", "gaji kamboja"),                # decorative fonts
    ("ᴀᴅᴍɪɴ", "admin"),                              # small capitals
    ("ＷＡ", "wa"),                                   # full width
    ("Kam\u200bbo\u200dja", "kamboja"),              # zero-width characters
    ("K4mb0j4", "kamboja"),                          # digits for letters
    ("di74n9gun9", "ditanggung"),
    ("T e l e g r a m", "telegram"),                 # spaced letters
    ("K-A-M-B-O-J-A", "kamboja"),
    ("W A 0812", "wa 0812"),
    ("gajiii besaaar", "gaji besar"),                # repeated letters
    ("Dibutuhkan ADMIN", "dibutuhkan admin"),
])
def test_deobfuscation(raw, expected):
    assert normalize(raw).text == expected


@pytest.mark.parametrize("raw", ["p3mi bp2mi sip3mi", "covid19", "15jt rp5jt usd800", "kata2 orang2", "s/d 2024"])
def test_words_written_with_digits_are_kept(raw):
    assert normalize(raw).text == raw


def test_links_are_not_rewritten():
    t = "daftar di bit.ly/3xYz9Ab atau t.me/kerja88"
    assert "bit.ly/3xyz9ab" in normalize(t).text and "t.me/kerja88" in normalize(t).text


def test_emoji_and_flags_read_as_words():
    n = normalize("CS 🇰🇭 🆓✈️🏠")
    assert "kamboja" in n.text and "free" in n.text and "tiket pesawat" in n.text and "mess" in n.text


@pytest.mark.parametrize("raw, word, original", [
    ("Loker K4mb0j4 gaji", "kamboja", "K4mb0j4"),
    ("hub T e l e g r a m ya", "telegram", "T e l e g r a m"),
    ("Kam\u200bboja!!", "kamboja", "Kam\u200bboja"),
    ("🔥 Mуanmar 🔥", "myanmar", "Mуanmar"),
    ("ﬁx gaji 𝗴𝗮𝗷𝗶", "gaji", "gaji"),
])
def test_spans_map_back_to_the_original(raw, word, original):
    n = normalize(raw)
    i = n.text.index(word)
    assert n.original_span(i, i + len(word)) == original


def test_obfuscation_is_counted():
    assert normalize("plain text").deobfuscated == {}
    stats = normalize("K4mboja Mуanmar W A").deobfuscated
    assert stats["leet"] == 1 and stats["lookalike"] == 1 and stats["spaced"] == 1


def test_rejects_non_text():
    with pytest.raises(TypeError):
        normalize(None)  # type: ignore[arg-type]
