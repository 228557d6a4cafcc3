"""Entities a takedown report needs: contacts, links, handles, bank accounts, money, destinations.

Everything is found in the normalised text (so disguised numbers and names are found too) and
reported with the span of the original post it came from.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
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
_CUR_LAST_CHARS = frozenset(name[-1] for name in _CUR_ENDINGS)
_UNIT_FIRST_CHARS = frozenset(name[0] for name in _UNIT_STARTS)
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
    # Every match, overlapping ones included, is checked for word boundaries before the longest
    # are kept: "negara k" (a name for Cambodia) inside "negara kamboja" must not hide "kamboja".
    found: list[tuple[int, int, str, str, str]] = []
    for end, (kind, name, value) in _KEYWORDS.iter(t):
        start, stop = end - len(name) + 1, end + 1
        if (start and t[start - 1].isalnum()) or (stop < len(t) and t[stop].isalnum()):
            continue
        found.append((start, stop, kind, name, value))
    if len(found) < 2:  # most posts: nothing to order or drop
        return found
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
_NOT_PHONE_CHARS = re.compile(r"[^\d+]")


@lru_cache(maxsize=65536)
def _e164(raw: str) -> str | None:
    digits = _NOT_PHONE_CHARS.sub("", raw)
    if m := _ID_MOBILE.match(digits):
        return "+62" + m.group(1)
    return _e164_library(digits)


def _e164_library(digits: str) -> str | None:
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    num = _parse_phone(digits, "ID")
    # "62812..." typed without the plus
    if num is None or (not phonenumbers.is_possible_number(num) and digits[:1] != "+"):
        num = _parse_phone("+" + digits, None)
    if num is None or not phonenumbers.is_possible_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def _parse_phone(digits: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException as exc:
        # phonenumbers keeps the exception it handles in a local variable: a reference cycle
        # through the traceback that pins every calling frame (the whole block of posts being
        # scored) until the cyclic garbage collector finds it, at about 1 µs per object.
        err: BaseException | None = exc
        while err is not None:
            traceback.clear_frames(err.__traceback__)
            err = err.__context__
        return None


_WA_NUMBER = re.compile(r"\d{8,15}")
_TELEGRAM_CONTEXT = re.compile(r"tele|tg|telegram")
_INSTAGRAM_CONTEXT = re.compile(r"\big\b|insta")
_NON_DIGITS = re.compile(r"\D")
_ORDER = attrgetter("start", "kind")


def _money(t: str, s: int, e: int, currency_before: bool) -> tuple[int, int, str, dict[str, Any]] | None:
    """Read the amount at number ``t[s:e]`` if a currency or multiplier makes it money
    (``currency_before``: whether the text before it, spaces aside, ends with a currency name)."""
    # _CUR_BEFORE can only match where a currency name ends just before, so spare the search
    before = _CUR_BEFORE.search(t[max(0, s - 6):s]) if currency_before else None
    after = _MONEY_AFTER.match(t, e)
    mult, post, per = after.group("mult", "post", "per") if after else (None, None, None)
    cur_raw = (before.group("pre").rstrip(".") if before else None) or post
    if cur_raw and cur_raw.startswith("dollar"):
        cur_raw = "dollar"
    if not cur_raw and not mult:
        return None
    currency = _CUR_ALIASES.get(cur_raw, "IDR") if cur_raw else "IDR"
    raw = t[s:e]
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
    period = _PERIOD.get(_PER_WORD.sub("", per)) if per else None
    start = s - len(before.group(0)) if before else s
    end = (after.end() if after and after.group(0).strip() else e)
    while end > e and t[end - 1].isspace():
        end -= 1
    value = f"{amount:.0f} {currency}" if amount == int(amount) else f"{amount:g} {currency}"
    return start, end, value, {"amount": amount, "currency": currency, "period": period,
                               "idr": amount * IDR_PER.get(currency, 0.0)}


_Found = tuple[str, str, int, int, dict[str, Any] | None]  # kind, value, start, end, extra


# Plain loops: cheaper than any() over a generator, and these run for every candidate.
def _overlaps(found: list[_Found], s: int, e: int) -> bool:
    for _, _, a, b, _ in found:
        if a < e and s < b:
            return True
    return False


def _starts_inside(found: list[_Found], s: int) -> bool:
    for _, _, a, b, _ in found:
        if a <= s < b:
            return True
    return False


def extract(norm: Normalized, hints: set[int] | None = None) -> list[Entity]:
    """All entities of one normalised post, in order of appearance (``hints``: which of
    ``ENTITY_HINTS`` occur in the text, when a scan already told)."""
    t = norm.text
    # spans in the normalised text, mapped to the original once all are found
    found: list[_Found] = []
    has_at = "@" in t
    # bank accounts and phone numbers need at least seven digits in a row (give or take separators)
    if hints is None:
        hints = _HINTS.matching(t)
    has_long_number = _HINT_LONG_NUMBER in hints
    for m in EMAIL_RE.finditer(t) if has_at else ():
        found.append(("email", m.group(0), *m.span(), None))
    for m in URL_RE.finditer(t) if _HINT_URL in hints else ():
        s = m.start()
        if _starts_inside(found, s):
            continue
        url = m.group(0).rstrip(".,;:!?)")
        e = s + len(url)
        if _WA_LINK.search(url):
            found.append(("whatsapp_link", url, s, e, None))
            if (num := _WA_NUMBER.search(url)) and (p := _e164("+" + num.group(0))):
                found.append(("phone", p, s, e, {"via": "whatsapp_link"}))
        elif _TG_LINK.search(url):
            found.append(("telegram_link", url, s, e, None))
            if handle := url.rsplit("/", 1)[-1]:
                found.append(("handle", "@" + handle, s, e, {"platform": "telegram"}))
        else:
            found.append(("url", url, s, e, {"shortener": True} if _SHORTENER.match(url) else None))
    for m in HANDLE_RE.finditer(t) if has_at else ():
        s, e = m.span()
        if not _starts_inside(found, s):
            ctx = t[max(0, s - 20):s]
            platform = "telegram" if _TELEGRAM_CONTEXT.search(ctx) else (
                "instagram" if _INSTAGRAM_CONTEXT.search(ctx) else None)
            found.append(("handle", m.group(0), s, e, {"platform": platform} if platform else None))
    keywords = keyword_hits(t)
    for start, stop, kind, name, _ in keywords if has_long_number else ():
        if kind != "bank" or not (tail := _BANK_TAIL.match(t, stop)):
            continue
        num = _NON_DIGITS.sub("", tail.group("num"))
        context = t[max(0, start - 20):tail.end()]
        if 8 <= len(num) <= 16 and (_ACCOUNT_WORDS.search(context) or not _PHONE_START.match(num)):
            extra = {"bank": name.upper()}
            if tail.group("owner"):
                extra["owner"] = tail.group("owner").strip()
            found.append(("bank_account", f"{name.upper()} {num}", start, tail.end(), extra))
    for m in _PHONE_RE.finditer(t) if has_long_number else ():
        s, e = m.span()
        if s and (t[s - 1].isalnum() or t[s - 1] in ".,"):
            continue
        raw = m.group(0).strip()
        if _overlaps(found, s, e) or not _PHONE_START.match(raw):
            continue
        if _MONEY_BEFORE.search(t[max(0, s - 6):s]):
            continue
        if p := _e164(raw):
            found.append(("phone", p, s, e, None))
    for m in _NUMBER_RE.finditer(t):
        s, e = m.span()
        # Most numbers are years, ages, counts: no currency just before, no unit or currency just
        # after. Telling them apart here is much cheaper than a call to _money (first characters
        # first: most words start or end with none of the names).
        before = t[max(0, s - 7):s].rstrip()
        currency_before = before[-1:] in _CUR_LAST_CHARS and before.endswith(_CUR_ENDINGS)
        if not currency_before:
            after = t[e:e + 10].lstrip()
            if not (after[:1] in _UNIT_FIRST_CHARS and after.startswith(_UNIT_STARTS)):
                continue
        if not _overlaps(found, s, e) and (money := _money(t, s, e, currency_before)):
            start, stop, value, extra = money
            found.append(("money", value, start, stop, extra))
    for start, stop, kind, name, cc in keywords:
        if kind == "destination":
            found.append(("destination", cc, start, stop, {"place": name}))
    return _entities(norm, found)


def _entities(norm: Normalized, found: list[_Found]) -> list[Entity]:
    """The found items as entities with their spans in the original post, in order of appearance."""
    original, to_original = norm.original, norm.to_original if norm.stages else None
    out = []
    for kind, value, s, e, extra in found:
        os_, oe = to_original(s, e) if to_original else (s, e)
        out.append(Entity(kind, value, original[os_:oe], os_, oe, extra, (s, e)))
    out.sort(key=_ORDER)
    return out
