"""Entities a takedown report needs: contacts, links, handles, bank accounts, money, destinations.

Everything is found in the normalised text (so disguised numbers and names are found too) and
reported with the span of the original post it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import ahocorasick
import phonenumbers

from ..matching import PatternSet
from ..normalize import EMAIL_RE, HANDLE_RE, URL_RE, Normalized
from ..normalize.text import URL_HINT

_WA_LINK = re.compile(r"(?:wa\.me|api\.whatsapp\.com|chat\.whatsapp\.com|wa\.link)", re.I)
_TG_LINK = re.compile(r"(?:t\.me|telegram\.me|telegram\.dog)/", re.I)
_SHORTENER = re.compile(r"^(?:https?://)?(?:www\.)?(?:bit\.ly|s\.id|tinyurl\.com|cutt\.ly|linktr\.ee|lynk\.id|rebrand\.ly|shorturl\.at|is\.gd|t\.ly)\b")
# A run of digits with the separators people type; at least 8 digits in all.
_PHONE_RE = re.compile(r"[+\d](?:[\s.\-()]{0,2}\d){7,15}(?!\w)")
# What a post may hold: a link, a number long enough for a phone or an account. The rule engine
# looks for these in its pass over the post (``RuleSet.scan``), so they cost no pass of their own.
ENTITY_HINTS = (URL_HINT.pattern, r"\d(?:[\s.\-()]{0,2}\d){6}")
_HINT_URL, _HINT_LONG_NUMBER = 0, 1
_HINTS = PatternSet(ENTITY_HINTS)
_PHONE_START = re.compile(r"^(?:\+|00|0[1-9]|62|855|95|856|66|63|84|60|65|971|886|852|82|81)")
_MONEY_BEFORE = re.compile(r"(?:rp|idr|usd|\$|rm|myr|sgd|thb|baht)\.?\s*$")
_BANK_NAMES = ("bca", "bri", "bni", "mandiri", "bsi", "btn", "cimb", "cimb niaga", "danamon", "permata", "jago",
               "seabank", "dana", "ovo", "gopay", "shopeepay", "linkaja", "ocbc", "maybank", "panin", "mega", "bjb",
               "bpd", "btpn", "jenius", "blu", "allo")
_BANK_TAIL = re.compile(
    r"[\s:.\-]*(?:no\.?\s*(?:rek(?:ening)?)?[\s:.]*)?(?P<num>\d(?:[\s.\-]?\d){6,17})\b"
    r"(?:\s*(?:a\.?\s?n\.?|an|atas nama)\s*(?P<owner>[a-z][a-z .']{1,40}?)(?=[\n,.;)]|$|\s{2}))?"
)
_ACCOUNT_WORDS = re.compile(r"rek|transfer|\btf\b|a\.?\s?n\b|atas nama")
_MULT = {"jt": 1e6, "juta": 1e6, "jeti": 1e6, "m": 1e6, "million": 1e6, "rb": 1e3, "ribu": 1e3,
         "rebu": 1e3, "k": 1e3, "thousand": 1e3, "miliar": 1e9, "billion": 1e9}
_CUR_ALIASES = {"rp": "IDR", "idr": "IDR", "usd": "USD", "us$": "USD", "$": "USD", "dollar": "USD",
                "dolar": "USD", "rm": "MYR", "myr": "MYR", "ringgit": "MYR", "sgd": "SGD",
                "thb": "THB", "baht": "THB", "yen": "JPY", "¥": "JPY", "won": "KRW", "ntd": "TWD",
                "nt$": "TWD", "hkd": "HKD", "aed": "AED", "dirham": "AED", "yuan": "CNY", "rmb": "CNY",
                "peso": "PHP", "php": "PHP", "riyal": "SAR", "sar": "SAR"}
# Rough rates for telling a high salary from a normal one, not for accounting.
IDR_PER = {"IDR": 1.0, "USD": 16000.0, "MYR": 3500.0, "SGD": 12000.0, "THB": 450.0, "JPY": 105.0,
           "KRW": 11.5, "TWD": 500.0, "HKD": 2000.0, "AED": 4300.0, "CNY": 2200.0, "PHP": 280.0,
           "SAR": 4200.0}
_CUR = r"rp\.?|idr|usd|us\$|\$|rm|myr|sgd|thb|baht|yen|¥|won|ntd|nt\$|hkd|aed|dirham|yuan|rmb|riyal|sar|peso"
# Money is found from its digits: a number, then what stands just before and after it.
_CUR_ENDINGS = (*_CUR_ALIASES, "rp.")
_UNIT_STARTS = (*_MULT, *_CUR_ALIASES)
_NUMBER_RE = re.compile(r"\d(?:\d|[.,]\d)*")
_GROUPED = re.compile(r"\d{1,3}(?:[.,]\d{3})+")  # 15.000.000, 1,200
_PER_WORD = re.compile(r"^\s?(?:/|per|se|tiap|an|a|each)\s?")
_CUR_BEFORE = re.compile(rf"(?:^|(?<=[^a-z]))(?P<pre>{_CUR})\s?$")
_MONEY_AFTER = re.compile(
    r"\s?(?P<mult>jt|juta|jeti|rb|ribu|rebu|k|m|million|thousand|miliar|billion)?\b\s?"
    r"(?P<post>usd|dollars?|dolar|ringgit|rm|baht|sgd|yen|won|ntd|hkd|aed|dirham|yuan|riyal|peso|\$)?(?:\b|(?<=\$))"
    r"(?P<per>\s?(?:/|per|se|tiap|a|an|each)\s?(?:bulan|bln|bl|month|mo|hari|hr|day|minggu|week|jam|hour|tahun|year|thn)\b)?"
)
_PERIOD = {"bulan": "month", "bln": "month", "bl": "month", "month": "month", "mo": "month",
           "hari": "day", "hr": "day", "day": "day", "minggu": "week", "week": "week",
           "jam": "hour", "hour": "hour", "tahun": "year", "year": "year", "thn": "year"}

# Destinations: where compounds are, plus common lawful destinations (so a report can tell them apart).
DESTINATIONS: dict[str, tuple[str, ...]] = {
    "KH": ("kamboja", "cambodia", "kamboca", "phnom penh", "pnom penh", "phnompenh", "sihanoukville",
           "sihanouk", "shv", "bavet", "poipet", "siem reap", "kampot", "koh kong", "negara k"),
    "MM": ("myanmar", "burma", "birma", "myawaddy", "myawadi", "shwe kokko", "kk park", "yangon",
           "tachileik", "mandalay"),
    "LA": ("laos", "golden triangle", "segitiga emas", "bokeo", "vientiane", "ton pheung"),
    "TH": ("thailand", "thailan", "bangkok", "mae sot", "maesot", "pattaya", "chiang mai", "chiang rai"),
    "PH": ("filipina", "philippines", "philipina", "manila", "pampanga", "clark", "cebu"),
    "VN": ("vietnam", "viet nam", "ho chi minh", "hanoi"),
    "MY": ("malaysia", "kuala lumpur", "johor", "sabah", "sarawak", "penang", "negeri jiran"),
    "AE": ("dubai", "uae", "uni emirat arab", "abu dhabi"),
    "CN": ("china", "tiongkok", "cina"),
    "TW": ("taiwan",), "HK": ("hong kong", "hongkong"), "KR": ("korea", "korea selatan", "seoul"),
    "JP": ("jepang", "japan", "tokyo", "osaka"), "DE": ("jerman", "germany"),
    "SG": ("singapura", "singapore"), "SA": ("arab saudi", "saudi"),
}
SCAM_HUBS = frozenset({"KH", "MM", "LA", "TH", "PH", "VN"})
_PLACE_TO_CC = {name: cc for cc, names in DESTINATIONS.items() for name in names}


def _keyword_automaton() -> ahocorasick.Automaton:
    """Places and bank names in one Aho-Corasick automaton: one pass, whatever the list length."""
    auto = ahocorasick.Automaton()
    for name, cc in _PLACE_TO_CC.items():
        auto.add_word(name, ("destination", name, cc))
    for bank in _BANK_NAMES:
        auto.add_word(bank, ("bank", bank, bank))
    auto.make_automaton()
    return auto


_KEYWORDS = _keyword_automaton()


def keyword_hits(t: str) -> list[tuple[int, int, str, str, str]]:
    """Whole-word places and bank names: (start, end, kind, name, value), longest first at a start."""
    found = []
    for end, (kind, name, value) in _KEYWORDS.iter_long(t):
        start, stop = end - len(name) + 1, end + 1
        if (start and t[start - 1].isalnum()) or (stop < len(t) and t[stop].isalnum()):
            continue
        found.append((start, stop, kind, name, value))
    found.sort(key=lambda x: (x[0], x[0] - x[1]))
    out: list[tuple[int, int, str, str, str]] = []
    for hit in found:
        if not out or hit[0] >= out[-1][1]:
            out.append(hit)
    return out


@dataclass(slots=True)
class Entity:
    """One extracted item: its kind, normalised value, the original text and its span there."""

    kind: str
    value: str
    text: str
    start: int
    end: int
    extra: dict[str, Any] | None = None
    # Span in the normalised text, used to build the classifier's input.
    norm_span: tuple[int, int] = field(default=(0, 0), repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, "value": self.value, "text": self.text, "start": self.start, "end": self.end}
        if self.extra:
            d.update(self.extra)
        return d


# Indonesian mobile numbers (08xx / +628xx, 10-13 digits) are most of what posts carry; their
# E.164 form is fixed, so they skip the library's general parser (a test checks they agree).
_ID_MOBILE = re.compile(r"^(?:\+62|62|0)(8[1-9]\d{7,10})$")


@lru_cache(maxsize=65536)
def _e164(raw: str) -> str | None:
    digits = re.sub(r"[^\d+]", "", raw)
    if m := _ID_MOBILE.match(digits):
        return "+62" + m.group(1)
    return _e164_library(digits)


def _e164_library(digits: str) -> str | None:
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    try:
        num = phonenumbers.parse(digits, "ID")
    except phonenumbers.NumberParseException:
        # "62812..." typed without the plus
        try:
            num = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException:
            return None
    if not phonenumbers.is_possible_number(num) and digits[:1] != "+":
        try:
            num = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException:
            return None
    if not phonenumbers.is_possible_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def _money(t: str, m: re.Match[str]) -> tuple[int, int, str, dict[str, Any]] | None:
    """Read the amount at number ``m`` if a currency or multiplier makes it money."""
    s, e = m.span()
    # most numbers are years, ages, counts: no currency just before, no unit or currency just after
    if not t[max(0, s - 7):s].rstrip().endswith(_CUR_ENDINGS) and not t[e:e + 10].lstrip().startswith(_UNIT_STARTS):
        return None
    before = _CUR_BEFORE.search(t[max(0, s - 6):s])
    after = _MONEY_AFTER.match(t, e)
    mult = after.group("mult") if after else None
    cur_raw = (before.group("pre").rstrip(".") if before else None) or (after.group("post") if after else None)
    if cur_raw and cur_raw.startswith("dollar"):
        cur_raw = "dollar"
    if not cur_raw and not mult:
        return None
    currency = _CUR_ALIASES.get(cur_raw, "IDR") if cur_raw else "IDR"
    raw = m.group(0)
    if _GROUPED.fullmatch(raw):
        amount = float(raw.replace(".", "").replace(",", ""))
    else:
        try:
            amount = float(raw.replace(",", ".", 1).replace(",", ""))
        except ValueError:
            return None
    if mult:
        amount *= _MULT[mult]
    if amount <= 0:
        return None
    period = _PERIOD.get(_PER_WORD.sub("", after.group("per"))) if after and after.group("per") else None
    start = s - len(before.group(0)) if before else s
    end = (after.end() if after and after.group(0).strip() else e)
    while end > e and t[end - 1].isspace():
        end -= 1
    value = f"{amount:.0f} {currency}" if amount == int(amount) else f"{amount:g} {currency}"
    return start, end, value, {"amount": amount, "currency": currency, "period": period,
                               "idr": amount * IDR_PER.get(currency, 0.0)}


def extract(norm: Normalized, hints: set[int] | None = None) -> list[Entity]:
    """All entities of one normalised post, in order of appearance (``hints``: which of
    ``ENTITY_HINTS`` occur in the text, when a scan already told)."""
    t = norm.text
    out: list[Entity] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, value: str, s: int, e: int, extra: dict[str, Any] | None = None) -> None:
        os_, oe = norm.to_original(s, e) if norm.stages else (s, e)
        out.append(Entity(kind, value, norm.original[os_:oe], os_, oe, extra, (s, e)))
        taken.append((s, e))

    has_at = "@" in t
    # bank accounts and phone numbers need at least seven digits in a row (give or take separators)
    if hints is None:
        hints = _HINTS.matching(t)
    has_long_number = _HINT_LONG_NUMBER in hints
    for m in EMAIL_RE.finditer(t) if has_at else ():
        add("email", m.group(0), *m.span())
    for m in URL_RE.finditer(t) if _HINT_URL in hints else ():
        s, e = m.span()
        if any(a <= s < b for a, b in taken):
            continue
        url = m.group(0).rstrip(".,;:!?)")
        e = s + len(url)
        if _WA_LINK.search(url):
            num = re.search(r"(\d{8,15})", url)
            add("whatsapp_link", url, s, e)
            if num and (p := _e164("+" + num.group(1))):
                add("phone", p, s, e, {"via": "whatsapp_link"})
        elif _TG_LINK.search(url):
            handle = url.rsplit("/", 1)[-1]
            add("telegram_link", url, s, e)
            if handle:
                add("handle", "@" + handle, s, e, {"platform": "telegram"})
        else:
            add("url", url, s, e, {"shortener": True} if _SHORTENER.match(url) else None)
    for m in HANDLE_RE.finditer(t) if has_at else ():
        if not any(a <= m.start() < b for a, b in taken):
            ctx = t[max(0, m.start() - 20):m.start()]
            platform = "telegram" if re.search(r"tele|tg|telegram", ctx) else (
                "instagram" if re.search(r"\big\b|insta", ctx) else None)
            add("handle", m.group(0), *m.span(), {"platform": platform} if platform else None)
    keywords = keyword_hits(t)
    for start, stop, kind, name, _ in keywords if has_long_number else ():
        if kind != "bank" or not (tail := _BANK_TAIL.match(t, stop)):
            continue
        num = re.sub(r"\D", "", tail.group("num"))
        context = t[max(0, start - 20):tail.end()]
        if 8 <= len(num) <= 16 and (_ACCOUNT_WORDS.search(context) or not _PHONE_START.match(num)):
            extra = {"bank": name.upper()}
            if tail.group("owner"):
                extra["owner"] = tail.group("owner").strip()
            add("bank_account", f"{name.upper()} {num}", start, tail.end(), extra)
    for m in _PHONE_RE.finditer(t) if has_long_number else ():
        s, e = m.span()
        raw = m.group(0).strip()
        if s and (t[s - 1].isalnum() or t[s - 1] in ".,"):
            continue
        if any(a < e and s < b for a, b in taken) or not _PHONE_START.match(raw):
            continue
        if _MONEY_BEFORE.search(t[max(0, s - 6):s]):
            continue
        if p := _e164(raw):
            add("phone", p, s, e)
    for m in _NUMBER_RE.finditer(t):
        if any(a < m.end() and m.start() < b for a, b in taken):
            continue
        if parsed := _money(t, m):
            add("money", parsed[2], parsed[0], parsed[1], parsed[3])
    for start, stop, kind, name, cc in keywords:
        if kind == "destination":
            add("destination", cc, start, stop, {"place": name})
    out.sort(key=lambda e: (e.start, e.kind))
    return out
