"""Twilio's segments (GSM-7 160 / 153 a part, UCS-2 70 / 67) and the parts a text goes as:
as many as the segments Twilio would bill for it whole, each of one segment."""

import pytest

from messaging.gateways.twilio import text
from messaging.gateways.twilio.backend import TwilioGateway


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # an extension character counts two septets
        ("{" * 81, 2),
        ("ж" * 70, 1),
        ("ж" * 71, 2),
        ("ж" * 134, 2),
        ("ж" * 135, 3),
        ("😀" * 35, 1),  # outside the BMP: two UTF-16 units each
        ("😀" * 36, 2),
        ("a" * 150 + "é", 1),  # é is in the GSM alphabet
        ("a" * 150 + "ś", 3),  # ś is not: the whole text is UCS-2
    ],
)
def test_segments_are_counted_as_twilio_counts_them(body, segments):
    assert text.segments(body) == segments


def test_a_text_that_fits_one_segment_is_one_part():
    assert text.split("a" * 160) == ["a" * 160]
    assert text.split("ж" * 70) == ["ж" * 70]


def test_a_long_text_splits_between_words_into_as_many_parts_as_segments():
    body = " ".join(["word"] * 80)  # 399 characters: 3 segments
    parts = text.split(body)
    assert len(parts) == text.segments(body) == 3
    assert "".join(parts) == body
    assert all(text.length(part) <= 153 and part.endswith(("word ", "word")) for part in parts)


def test_where_words_would_cost_a_part_more_the_text_is_cut_where_twilio_cuts_it():
    body = "x" * 150 + " " + "y" * 155  # 306 characters: exactly 2 segments
    parts = text.split(body)
    assert len(parts) == 2 and "".join(parts) == body
    assert [text.length(part) for part in parts] == [153, 153]


def test_parts_never_split_an_emoji_or_an_escaped_character():
    for body in ("😀" * 50, "a" + "€" * 100):
        parts = text.split(body)
        assert "".join(parts) == body
        limit = 67 if not text.is_gsm7(body) else 153
        assert all(text.length(part) <= limit for part in parts)
        assert len(parts) == text.segments(body)


def test_the_gateway_puts_the_senders_name_before_the_text_and_sends_parts_as_they_are():
    gateway = TwilioGateway(account_sid="AC1", auth_token="token", public_url="")
    assert gateway.split("Dinner at 6", "Mom") == ["Mom: Dinner at 6"]
    long = gateway.split("é" * 200, "Mom")
    assert len(long) == text.segments("Mom: " + "é" * 200) == 2
