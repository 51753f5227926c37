"""Group Texting's text rules: its character set and counting, transliteration, subjects,
splitting into numbered parts, and its 10-digit numbers."""

import pytest

from messaging.gateways.grouptexting import text as rules
from messaging.gateways.grouptexting.simulator import counted_length, valid_text


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("hello", 5),
        ("a~b@c#d%e+f=g/h\\i", 25),  # 9 letters, 8 double-weight characters
        ("line\nbreak", 11),
        ("", 0),
        ("$&!?", 4),  # allowed and single weight
    ],
)
def test_weighted_length_counts_the_providers_double_characters_twice(text, length):
    assert rules.weighted_length(text) == length


@pytest.mark.parametrize(
    ("original", "plain"),
    [
        ("Café crème brûlée", "Cafe creme brulee"),
        ("Ærøskøbing Straße", "AEroskobing Strasse"),
        ("“Quoted” and ‘single’", "Quoted and single"),
        ("don't", "dont"),
        ("9–5 — or later", "9-5 - or later"),
        ("wait…", "wait..."),
        ("ﬁne ½ Ｆｕｌｌ", "fine 1/2 Full"),
        ("a\u00a0b\tc", "a b c"),
        ("[x] {y} a|b", "(x) (y) a/b"),
        ("5€ or £5", "5EUR or GBP5"),
        ("windows\r\nline\rends", "windows\nline\nends"),
        ("ok 😀👍🏽 fine", "ok ? fine"),  # one ? for a run of emoji and their modifiers
        ("family 👨‍👩‍👧", "family ?"),  # joined sequences are one ?
        ("日本語", "?"),
        ("*bye <3 ^", "?bye ?3 ?"),
        ("plain ASCII stays: .,:;!?()~=+-_\\/@$#&%", "plain ASCII stays: .,:;!?()~=+-_\\/@$#&%"),
    ],
)
def test_text_is_made_plain_within_the_providers_set(original, plain):
    assert rules.to_plain(original) == plain
    assert rules.is_allowed(plain)
    assert valid_text(plain)  # the simulator, written separately, agrees
    assert rules.to_plain(plain) == plain  # idempotent


def test_a_sender_name_becomes_a_plain_subject_of_at_most_13_characters():
    assert rules.to_subject("Mom") == "Mom"
    assert rules.to_subject("José García-Márquez") == "Jose Garcia-M"
    assert rules.to_subject("Grandma Ruth  ") == "Grandma Ruth"
    assert rules.to_subject("Anne-Marie B. Smith") == "Anne-Marie B."
    assert rules.to_subject("") == ""
    assert len(rules.to_subject("x" * 40)) == 13


def test_a_text_that_fits_is_one_part_unnumbered():
    assert rules.split("See you at 6!", "Mom") == ["See you at 6!"]
    exact = "a" * (160 - 3)
    assert rules.split(exact, "Mom") == [exact]


def test_double_weight_characters_count_against_the_limit():
    assert rules.split("@" * 80, "") == ["@" * 80]  # weighs 160
    assert len(rules.split("@" * 81, "")) == 2
    assert len(rules.split("@" * 80, "A")) == 2  # the subject counts too
    assert len(rules.split("a" * 150, "Grandma/Ruth")) == 2  # 150 + 13, the / counting two


def test_a_long_text_is_cut_on_word_boundaries_into_numbered_parts():
    words = [f"word{i}" for i in range(80)]
    text = " ".join(words)
    parts = rules.split(text, "Mom")
    assert len(parts) == 4
    for index, part in enumerate(parts, 1):
        assert part.startswith(f"({index}/4) ")
        assert rules.fits("Mom", part)
    rejoined = " ".join(part.split(" ", 1)[1] for part in parts)
    assert rejoined == text  # nothing lost, no word cut


def test_parts_fill_the_budget_with_the_subject_counted():
    text = "x " * 200
    for subject in ("", "Mom", "Grandma Ruth/", "@@@@@@@@@@@@@"):
        parts = rules.split(text, subject)
        for part in parts:
            assert rules.fits(subject, part)
            assert counted_length(subject) + counted_length(part) <= 160
        for part in parts[:-1]:  # full: one more word (" x") would not have fitted
            assert rules.weighted_length(subject + part + " x") > 160


def test_a_word_longer_than_a_part_is_cut_mid_word():
    url = "https://example.com/" + "a" * 300
    parts = rules.split(f"see {url}", "Mom")
    assert all(rules.fits("Mom", part) for part in parts)
    assert "".join(part.split(" ", 1)[1] for part in parts).replace("see", "", 1) == url


def test_line_breaks_are_kept_and_count_two_and_a_cut_may_fall_on_them():
    text = "\n".join([f"line of text number {i}" for i in range(12)])
    parts = rules.split(text, "")
    assert len(parts) == 2
    assert all(rules.fits("", part) for part in parts)
    assert "\n" in parts[0]
    assert not parts[1].split(" ", 1)[1].startswith("\n")


def test_the_part_count_widens_the_prefix_when_it_reaches_two_digits():
    parts = rules.split("word " * 400, "Mom")
    assert len(parts) >= 10
    assert parts[0].startswith(f"(1/{len(parts)}) ")
    assert parts[-1].startswith(f"({len(parts)}/{len(parts)}) ")
    assert all(rules.fits("Mom", part) for part in parts)


def test_split_transliterates_and_leaves_no_outer_spaces():
    assert rules.split("  “Héllo”  ", "Mom") == ["Hello"]


@pytest.mark.parametrize(
    ("e164", "digits"),
    [
        ("+14155550101", "4155550101"),
        ("+12125551234", "2125551234"),
        ("+442071838750", None),  # UK
        ("+33612345678", None),
        ("+11155550101", None),  # a NANP area code never starts with 1
        ("4155550101", None),  # not E.164
    ],
)
def test_only_north_american_numbers_have_the_ten_digits_the_api_takes(e164, digits):
    assert rules.to_ten_digits(e164) == digits
