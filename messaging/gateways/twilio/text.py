"""How Twilio counts a text: in segments, as GSM-7 when every character is in the GSM 03.38
alphabet, else as UCS-2.

One segment carries 160 GSM-7 characters or 70 UCS-2 code units; a longer text goes as
concatenated segments of 153 / 67 each (the rest of each holds the header that joins them),
and Twilio bills, and counts against a number's rate, each segment. So the gateway sends a
long text as parts of at most one segment each, split the way Twilio would split it: the
number of parts is the number of segments Twilio would bill for the whole text, each part a
rate-limit place and a charged part (SPEC §8).
"""

import math

# GSM 03.38: the basic alphabet (one septet each) and the extension table (two: escape + char).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def is_gsm7(text: str) -> bool:
    return all(char in GSM_BASIC or char in GSM_EXTENDED for char in text)


def encoding(text: str) -> str:
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def _units(char: str, gsm: bool) -> int:
    """What one character takes: septets in GSM-7, UTF-16 code units in UCS-2 (an emoji is
    two, and they are never split between segments)."""
    if gsm:
        return 2 if char in GSM_EXTENDED else 1
    return 2 if ord(char) > 0xFFFF else 1


def length(text: str) -> int:
    """The text's length as Twilio counts it: septets, or UTF-16 code units."""
    gsm = is_gsm7(text)
    return sum(_units(char, gsm) for char in text)


def limits(text: str) -> tuple[int, int]:
    """(what one segment holds, what each of several holds) for this text's encoding."""
    return (GSM_SINGLE, GSM_PART) if is_gsm7(text) else (UCS2_SINGLE, UCS2_PART)


def segments(text: str) -> int:
    """How many segments Twilio bills for ``text`` sent as one message."""
    if not text:
        return 1
    single, part = limits(text)
    return len(_cut(text, part)) if length(text) > single else 1


def split(text: str) -> list[str]:
    """``text`` as parts of one segment each, as many as ``segments(text)``: cut between words
    where that costs no extra segment, else where Twilio cuts."""
    single, part = limits(text)
    if length(text) <= single:
        return [text]
    exact = _cut(text, part)
    by_words = _cut(text, part, between_words=True)
    return by_words if len(by_words) == len(exact) else exact


def _cut(text: str, size: int, *, between_words: bool = False) -> list[str]:
    """Greedy cuts of at most ``size`` units; a character that does not fit whole starts the
    next part. With ``between_words`` a cut moves back to just after the last space, when
    the part has one."""
    gsm = is_gsm7(text)
    parts, start = [], 0
    while start < len(text):
        used, end = 0, start
        while end < len(text) and used + _units(text[end], gsm) <= size:
            used += _units(text[end], gsm)
            end += 1
        if between_words and end < len(text):
            space = text.rfind(" ", start, end)
            if space > start:
                end = space + 1
        parts.append(text[start:end])
        start = end
    return parts


def estimate(text: str) -> int:
    """A quick upper bound of the segments, for a text not yet encoded (logs, admin)."""
    single, part = limits(text)
    count = length(text)
    return 1 if count <= single else math.ceil(count / part)
