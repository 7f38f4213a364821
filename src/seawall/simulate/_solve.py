"""What the simulated model knows: verifiable questions it can answer, and facts it can read off a text.

`solve(text)` recognises one kind of question and computes its answer (first match wins):

    extract the email address / date / number … from …   → the email, the date as YYYY-MM-DD, the number
    sort these words in alphabetical order …: a, b, c     → "a, b, c" sorted
    reply with only the word X [in capital/lowercase letters] → X, cased as asked
    does the word "X" contain the letter "y"?            → yes / no
    is the word "X" a palindrome?                        → yes / no
    is A greater / less than B?                          → yes / no
    is N (a) prime / composite (number)?                 → yes / no
    what is A op B?  (``+ - * x ×``)                     → the number

`clues(text)` reads the facts a schema-shaped answer is filled from (tool arguments, JSON fields):
emails, dates, numbers, quoted strings and places ("in Paris"), in order of appearance.

Both take `wrong`, a drawn "wrong answer" fault: when it is not 0 the answer is wrong in a way a
verifier notices — numbers shifted by `wrong`, yes/no flipped, an extracted email or date altered,
words cased or ordered wrongly.

Must not: do I/O, read clocks or draw random numbers.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

Value = str | int | bool | Decimal
"""An answer: text, an integer, yes/no, or an exact decimal number."""

_Q = "[\"'“”‘’]?"  # an optional quote around a word
_EXTRACT = re.compile(r"\bextract\s+the\s+([^.?!:\n]*?)\s+from\b", re.IGNORECASE)
_SORT = re.compile(
    r"\b(?:sort|put|arrange|list)\s+(?:these|the|the\s+following)\s+words\s+(?:in|into)\s+alphabetical\s+order"
    r"[^:\n]*:\s*(.+)",
    re.IGNORECASE,
)
_WORD = re.compile(rf"\breply\s+with\s+only\s+the\s+word\s+{_Q}([A-Za-z][\w-]*){_Q}([^\n]*)", re.IGNORECASE)
_UPPER = re.compile(r"\b(?:capital\s+letters|capitals|upper\s*-?case|all\s+caps)\b", re.IGNORECASE)
_LOWER = re.compile(r"\b(?:lower\s*-?case|small\s+letters)\b", re.IGNORECASE)
_LETTER = re.compile(
    rf"\bdoes\s+the\s+word\s+{_Q}(\w+){_Q}\s+contain\s+the\s+letter\s+{_Q}(\w){_Q}", re.IGNORECASE
)
_PALINDROME = re.compile(rf"\bis\s+the\s+word\s+{_Q}(\w+){_Q}\s+a\s+palindrome\b", re.IGNORECASE)
_NUM = r"(-?\d[\d,]*(?:\.\d+)?)"
_COMPARE = re.compile(
    rf"\bis\s+{_NUM}\s+(greater|more|larger|bigger|higher|less|smaller|fewer|lower)\s+than\s+{_NUM}",
    re.IGNORECASE,
)
_PRIME = re.compile(r"\bis\s+(\d[\d,]*)\s+(?:an?\s+)?(prime|composite)\b", re.IGNORECASE)
_ARITHMETIC = re.compile(r"\bwhat\s+is\s+(-?\d+)\s*([-+*x×])\s*(-?\d+)", re.IGNORECASE)

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_MONTHS = {
    name: number
    for number, full in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
        start=1,
    )
    for name in (full, full[:3])
}
_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:tember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATES = (
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), ("y", "m", "d")),
    (
        re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH},?\s+(\d{{4}})\b", re.IGNORECASE),
        ("d", "mon", "y"),
    ),
    (
        re.compile(rf"\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.IGNORECASE),
        ("mon", "d", "y"),
    ),
)
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\w)")
_QUOTED = re.compile(r"\"([^\"\n]{1,200})\"|“([^”\n]{1,200})”")
_PLACE = re.compile(r"\bin\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)")


@dataclass(frozen=True, slots=True)
class Clues:
    """Facts found in a text, each in order of appearance."""

    emails: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    """As YYYY-MM-DD."""
    numbers: tuple[Decimal, ...] = ()
    """Numbers outside the emails and dates ("1,249.99" reads 1249.99)."""
    quoted: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    text: str = ""


def clues(text: str, *, wrong: int = 0) -> Clues:
    """The facts in `text`; with `wrong` set, emails, dates and numbers come out altered."""
    emails = [m.group(0) for m in _EMAIL.finditer(text)]
    rest = _EMAIL.sub(lambda m: " " * len(m.group(0)), text)
    found: list[tuple[int, datetime.date]] = []
    for pattern, order in _DATES:
        for match in pattern.finditer(rest):
            day = _date(dict(zip(order, match.groups(), strict=True)))
            if day is not None:
                found.append((match.start(), day))
                rest = rest[: match.start()] + " " * (match.end() - match.start()) + rest[match.end() :]
    dates = [d for _, d in sorted(found, key=lambda item: item[0])]
    numbers = [Decimal(m.group(0).replace(",", "")) for m in _NUMBER.finditer(rest)]
    if wrong:
        emails = [_wrong_email(e, wrong) for e in emails]
        dates = [d + datetime.timedelta(days=wrong) for d in dates]
        numbers = [n + wrong for n in numbers]
    return Clues(
        emails=tuple(emails),
        dates=tuple(d.isoformat() for d in dates),
        numbers=tuple(numbers),
        quoted=tuple(a or b for a, b in _QUOTED.findall(text)),
        places=tuple(_PLACE.findall(text)),
        text=text,
    )


def solve(text: str, *, wrong: int = 0) -> Value | None:
    """The answer to the question in `text` (see the module docstring), or None for no known question."""
    extract = _EXTRACT.search(text)
    if extract is not None:
        found = _extract(extract.group(1).lower(), clues(text[extract.end() :], wrong=wrong))
        if found is not None:
            return found
    sort = _SORT.search(text)
    if sort is not None:
        words = [w for w in re.split(r"[\s,;]+", sort.group(1).strip().rstrip(".")) if w]
        ordered = sorted(words, key=str.casefold)
        return ", ".join(reversed(ordered) if wrong and len(set(words)) > 1 else ordered)
    word = _WORD.search(text)
    if word is not None:
        said, rest = word.group(1), word.group(2)
        said = said.upper() if _UPPER.search(rest) else said.lower() if _LOWER.search(rest) else said
        return said.swapcase() if wrong else said
    verdict = _yes_no(text)
    if verdict is not None:
        return verdict != bool(wrong)
    result = arithmetic(text)
    return None if result is None else result + wrong


def render(value: Value) -> str:
    """An answer as reply text: yes/no as "Yes"/"No", numbers plainly."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def arithmetic(text: str) -> int | None:
    """The value of a "What is A op B" question in `text`, or None when there is none."""
    match = _ARITHMETIC.search(text)
    if match is None:
        return None
    a, op, b = int(match.group(1)), match.group(2), int(match.group(3))
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    return a * b


def is_prime(n: int) -> bool:
    """Trial division; fine for the sizes canary probes ask about."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    divisor = 3
    while divisor * divisor <= n:
        if n % divisor == 0:
            return False
        divisor += 2
    return True


def _yes_no(text: str) -> bool | None:
    letter = _LETTER.search(text)
    if letter is not None:
        return letter.group(2).casefold() in letter.group(1).casefold()
    palindrome = _PALINDROME.search(text)
    if palindrome is not None:
        word = palindrome.group(1).casefold()
        return word == word[::-1]
    compare = _COMPARE.search(text)
    if compare is not None:
        a, b = _decimal(compare.group(1)), _decimal(compare.group(3))
        if a is not None and b is not None:
            bigger = compare.group(2).lower() in ("greater", "more", "larger", "bigger", "higher")
            return a > b if bigger else a < b
    prime = _PRIME.search(text)
    if prime is not None:
        n = int(prime.group(1).replace(",", ""))
        return is_prime(n) == (prime.group(2).lower() == "prime")
    return None


def _extract(what: str, found: Clues) -> Value | None:
    if "email" in what or "e-mail" in what:
        return found.emails[0] if found.emails else None
    if "date" in what or "day" in what:
        return found.dates[0] if found.dates else None
    return found.numbers[0] if found.numbers else None


def _date(parts: dict[str, str]) -> datetime.date | None:
    month = int(parts["m"]) if "m" in parts else _MONTHS.get(parts["mon"].lower().rstrip(".")[:3], 0)
    try:
        return datetime.date(int(parts["y"]), month, int(parts["d"]))
    except ValueError:
        return None


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def _wrong_email(email: str, wrong: int) -> str:
    local, _, domain = email.partition("@")
    return f"{local}{abs(wrong)}@{domain}"
