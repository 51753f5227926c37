"""Group Texting's text rules, as pure functions: its character set, its way of counting, its
10-digit numbers, and how a longer text is cut into numbered parts.

The rules are the provider's own (its API documentation), not GSM 03.38:

- allowed: ``a-z A-Z 0-9``, space, line breaks and ``.,:;!?()~=+-_\\/@$#&%``;
- ``~ @ # % + = / \\`` and a line break count as two characters;
- subject (at most 13 characters) and message together at most 160.

Text outside the set is transliterated (accents dropped, smart punctuation made plain);
apostrophes and quotation marks, which the set lacks, are dropped (``don't`` -> ``dont``);
anything else becomes ``?``, one per unrepresentable run (an emoji sequence is one ``?``).
"""

import re
import unicodedata

MAX_LENGTH = 160
MAX_SUBJECT_LENGTH = 13

SPECIALS = ".,:;!?()~=+-_\\/@$#&%"
DOUBLE_WEIGHT = frozenset("~@#%+=/\\\n")
ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n" + SPECIALS)

_UNREPRESENTABLE = "\x00"  # stands for "?" until runs of it are collapsed

# Characters NFKD leaves outside the set, with their plain forms. "" drops the character.
_PLAIN = {
    # Quotation marks and apostrophes: the set has none.
    **dict.fromkeys("'\"`´‘’‚‛“”„‟‹›«»′″", ""),
    # Dashes, hyphens and minus signs.
    **dict.fromkeys("‐‑‒–—―−⁃", "-"),
    # Spaces of every width, and tabs.
    **dict.fromkeys(
        "\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
        "\u2008\u2009\u200a\u202f\u205f\u3000",
        " ",
    ),
    # Line and paragraph separators.
    **dict.fromkeys("\u2028\u2029\u0085\u000b\u000c", "\n"),
    # Invisible joiners and selectors: part of a character, never one of their own.
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\ufe0e\ufe0f", ""),
    "[": "(",
    "]": ")",
    "{": "(",
    "}": ")",
    "|": "/",
    "⁄": "/",
    "÷": "/",
    "×": "x",
    "•": "-",
    "·": ".",
    "¡": "!",
    "¿": "?",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "¢": "c",
    "©": "(c)",
    "®": "(R)",
    "™": "TM",
    "°": " deg",
    "ß": "ss",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ø": "o",
    "Ø": "O",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "Th",
    "ł": "l",
    "Ł": "L",
    "ı": "i",
}

_LINE_BREAK = re.compile(r"\r\n|\r")
_UNREPRESENTABLE_RUN = re.compile(_UNREPRESENTABLE + "+")


def weighted_length(text: str) -> int:
    """The length Group Texting counts: a double-weight character or line break counts two."""
    return sum(2 if char in DOUBLE_WEIGHT else 1 for char in text)


def is_allowed(text: str) -> bool:
    return all(char in ALLOWED for char in text)


def to_plain(text: str) -> str:
    """``text`` within the allowed set; line breaks become ``\\n``. Idempotent."""
    out = []
    for char in unicodedata.normalize("NFKD", _LINE_BREAK.sub("\n", text)):
        if char in ALLOWED:
            out.append(char)
        elif char in _PLAIN:
            out.append(_PLAIN[char])
        elif unicodedata.combining(char):
            continue  # the accent NFKD split off its letter
        else:
            out.append(_UNREPRESENTABLE)
    return _UNREPRESENTABLE_RUN.sub("?", "".join(out))


def to_subject(sender_name: str) -> str:
    """The sender's name as a subject: plain, at most 13 characters, no outer spaces."""
    flat = " ".join(to_plain(sender_name).split())
    return flat[:MAX_SUBJECT_LENGTH].strip()


def fits(subject: str, message: str) -> bool:
    return (
        len(subject) <= MAX_SUBJECT_LENGTH
        and is_allowed(subject)
        and is_allowed(message)
        and weighted_length(subject) + weighted_length(message) <= MAX_LENGTH
    )


def split(text: str, subject: str = "") -> list[str]:
    """``text`` made plain and cut so that ``subject`` plus each part fits in one message.

    One part when it fits as is; otherwise parts numbered ``(1/3) ...``, cut at the last
    space or line break that fits, or mid-word when a word alone is too long.
    """
    plain = to_plain(text).strip()
    budget = MAX_LENGTH - weighted_length(subject)
    if weighted_length(plain) <= budget:
        return [plain]
    # The prefix's width depends on the number of parts: assume a count, cut, and cut again
    # with the count found until the two agree (at most once more per extra digit).
    count = 2
    while True:
        prefix_weight = weighted_length(f"({count}/{count}) ")
        if budget - prefix_weight < 1:
            raise ValueError(f"subject {subject!r} leaves no room for a message")
        chunks = _cut(plain, budget - prefix_weight)
        if len(str(len(chunks))) <= len(str(count)):
            return [f"({index}/{len(chunks)}) {chunk}" for index, chunk in enumerate(chunks, 1)]
        count = len(chunks)


def _cut(text: str, budget: int) -> list[str]:
    chunks = []
    while text:
        end, weight, last_break = 0, 0, None
        for index, char in enumerate(text):
            if char in " \n":
                last_break = index  # a break just past the budget still ends a whole word
            weight += 2 if char in DOUBLE_WEIGHT else 1
            if weight > budget:
                break
            end = index + 1
        else:
            chunks.append(text)
            break
        cut = last_break or end
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return chunks


def to_ten_digits(e164: str) -> str | None:
    """A North American number (+1 and ten digits) in the ten digits the API takes, else None."""
    match = re.fullmatch(r"\+1([2-9]\d{9})", e164.strip())
    return match.group(1) if match else None
