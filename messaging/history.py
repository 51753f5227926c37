"""/message/get's answers, kept in each web process while the group's history stands still.

Every open app asks for the latest 100 messages every few seconds, and nearly always nothing
has changed since it last asked. Each process keeps the rendered messages of the answers it
gave, by membership and question, with the group's ``HistoryStamp`` they were read under
(``membership_for`` reads the stamp with the membership, in the query every call makes
anyway). An answer is given again only while the stamp is still that one: a message stored,
edited or deleted, a receipt that moved, an absence begun or ended, made by any process or by
hand in the database, changes the stamp in its own transaction (groups.stamps), so the very
next request reads afresh. The stamp is read before the history, never after: an answer read
while a change commits is kept under the older stamp, which no request will match again.

Who asks is part of the key (the membership, and whether it is the owner's: receipts and a
reply_to_owner group show the owner more); a removal or a deleted group fails the
membership look-up before anything kept is reached. Kept at most ``MAX_AGE`` seconds and
GROUPFLIER_HISTORY_CACHE_MB of answers per process, the least recently asked dropped first.
"""

import threading
import time
from collections import OrderedDict

from django.conf import settings

from groupflier.api.endpoint import RawJSON, render
from groups.models import Membership
from messaging import actions

# Bounds an answer's life should the stamp ever be set back (a database restored under a
# running service, which the README says to stop first).
MAX_AGE = 300  # seconds

_kept: OrderedDict = OrderedDict()
_kept_bytes = 0
_lock = threading.Lock()  # a gthread worker serves several requests at once


def messages(membership: Membership, message_id=None, first=None, last=None) -> RawJSON:
    """The ``messages`` of /message/get for ``membership`` (from ``membership_for``, with its
    ``history_stamp``), rendered: as ``actions.read`` finds them, with the receipts the caller
    may see."""
    key = (
        membership.pk,
        membership.member_id == membership.group.owner_id,
        message_id,
        first,
        last,
    )
    stamp = membership.history_stamp
    now = time.monotonic()
    with _lock:
        kept = _kept.get(key)
        if kept is not None and kept[0] == stamp and now - kept[1] < MAX_AGE:
            _kept.move_to_end(key)
            return kept[2]
    found = actions.read(membership, message_id, first, last)
    receipts = actions.receipts(membership, found)
    rendered = RawJSON(render([actions.describe(m, receipts.get(m.pk)) for m in found]))
    _keep(key, (stamp, now, rendered))
    return rendered


def _keep(key, entry) -> None:
    global _kept_bytes
    budget = settings.GROUPFLIER_HISTORY_CACHE_MB * 1024 * 1024
    with _lock:
        previous = _kept.pop(key, None)
        if previous is not None:
            _kept_bytes -= len(previous[2])
        if len(entry[2]) > budget:
            return
        _kept[key] = entry
        _kept_bytes += len(entry[2])
        while _kept_bytes > budget:
            _, dropped = _kept.popitem(last=False)
            _kept_bytes -= len(dropped[2])


def forget() -> None:
    """Drop every answer this process keeps: bench/api measures reads from the database."""
    global _kept_bytes
    with _lock:
        _kept.clear()
        _kept_bytes = 0
