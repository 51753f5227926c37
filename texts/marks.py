"""The mark members type before a command word (SPEC §3).

`*` is the command mark, and `#` works too, because some gateways cannot carry `*` (Group
Texting's character set has none). What a member is told to type must work when typed, so
every text the service sends names the commands with the configured gateway's
``command_mark``: the texts are written with `*` and ``name_commands`` rewrites them.
"""

import re

from groupflier.pipeline import rows

COMMAND_WORDS = ("who", "add", "remove", "bye", "hi", "name", "help")
MARKS = "*#"
_NAMED_COMMAND = re.compile(rf"\*(?=(?:{'|'.join(COMMAND_WORDS)})\b)", re.IGNORECASE)


def command_mark() -> str:
    """The configured gateway's mark: `*` unless its character set lacks it. Asked of the
    pipeline that hands system texts to the gateway (messaging's), by name from down here."""
    return rows.get("texts").command_mark()


def name_commands(text: str | None) -> str | None:
    """``text`` with each command it names (`*bye`) written with the gateway's mark."""
    mark = command_mark()
    if not text or mark == "*":
        return text
    return _NAMED_COMMAND.sub(mark, text)


def command_word(text: str) -> str | None:
    """The command word of a text that starts with a mark ("bye" for "#bye"), else None.

    After `*` any word is a command (an unknown one answers the list of commands); after `#`
    only the command words are, so "#1 priority tonight" stays an ordinary message.
    """
    if not text or text[0] not in MARKS:
        return None
    word = text[1:].strip().partition(" ")[0].lower()
    if text[0] == "#" and word not in COMMAND_WORDS:
        return None
    return word
