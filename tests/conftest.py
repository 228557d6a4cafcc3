"""Shared fixtures: a tiny model trained in the test session, and a small corpus written to disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scamdetect.classifier import TfidfScamClassifier, save_tfidf
from scamdetect.signals import default_rules_yaml

SCAMS = [
    "Dibutuhkan admin ke Kamboja gaji 15jt/bulan, tiket dan visa ditanggung, WA 0812-3456-7890",
    "Loker CS online Myanmar, gaji $1200, tanpa pengalaman, langsung berangkat, chat Telegram @rekrut_asia",
    "Lowongan marketing online Thailand, visa turis dulu, mess dan makan gratis, hubungi WA 0857-1111-2222",
    "Butuh operator ke Bavet, gaji 18 juta, min SMA, proses cepat, inbox aja",
    "Kerja dari HP penghasilan 500rb per hari cocok untuk IRT, bukan MLM, daftar biaya admin 100rb",
    "PT Pertamina membuka lowongan, kirim CV ke hrd.pertamina@gmail.com, biaya tes 250rb ke rek BRI",
    "Kerja di negara tetangga jadi admin, gaji 20jt, tiket ditanggung, jalur mandiri tanpa PT",
    "Dicari CS ke Phnom Penh, semua biaya ditanggung, proses 1 minggu berangkat, DM",
]
NOT_SCAMS = [
    "Waspada modus lowongan kerja ke Kamboja, Kemlu mengimbau WNI tidak tergiur gaji besar",
    "PT Maju Jaya (SIP3MI resmi) membuka job order caregiver Taiwan, visa kerja, alamat Jl. Sudirman 5",
    "Dicari kasir toko roti di Medan, gaji UMR, datang langsung ke Jl. Gatot Subroto 12",
    "Liburan ke Bangkok minggu lalu, seru banget makan mango sticky rice",
    "Program G to G Korea EPS-TOPIK dibuka, daftar lewat SISKOP2MI, tanpa biaya calo",
    "Korban TPPO dari Myanmar dipulangkan KBRI, polisi menangkap perekrut",
    "Lowongan admin gudang PT Sinar Abadi, kirim lamaran ke hr@sinarabadi.co.id",
    "Kakakku kerja di Malaysia lewat agen resmi, alhamdulillah gajinya lancar",
]


def tiny_training_set() -> tuple[list[str], list[int]]:
    texts = SCAMS * 3 + NOT_SCAMS * 3
    return texts, [1] * (len(SCAMS) * 3) + [0] * (len(NOT_SCAMS) * 3)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TF-IDF model fitted on a few dozen posts and saved as a real artifact."""
    texts, y = tiny_training_set()
    est = TfidfScamClassifier(C=4.0, vocab_size=500, bigram_bits=12).fit(texts, y)
    est.threshold_ = 0.5
    out = tmp_path_factory.mktemp("models") / "tiny"
    save_tfidf(est, out, default_rules_yaml(), {"model_id": "tiny-test", "labels": ["not_scam", "scam"],
                                                "precision_target": 0.95, "metrics": {}})
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
