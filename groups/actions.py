"""Group rules: creating, activating, setting up, listing, joining and deleting groups.

Who is in a group (adding, removing, leaving) lives in ``groups.roster``; the texts groups send
in ``groups.notices``.
"""

import re
import secrets
from collections import namedtuple
from dataclasses import dataclass, fields

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.actions import open_account
from accounts.models import Account
from groupflier import sql
from groupflier.api import throttles
from groupflier.api.errors import ApiError, ErrorType
from groupflier.api.schema import flag
from groups import lookup, notices, roster
from groups.addresses import choose_address, is_pool_number, lock_members
from groups.lookup import locked, membership_for
from groups.models import INVITE_CODE_PATTERN, Group, Membership
from members import actions as member_actions
from members.actions import get_or_create_member, send_login_pin
from members.models import Member


@dataclass
class NewGroup:
    name: str
    creator_name: str
    creator_number: str
    members: list[tuple[str, str]]  # (name, E.164 number) of everyone but the creator
    email: str | None = None
    source: str | None = None
    reply_to_owner: bool = False
    send_pin: bool = False


@dataclass
class Created:
    group: Group
    creator: Membership
    first_group: bool


def check_new_group(spec: NewGroup) -> None:
    """The state checks of /group/create, in the order of SPEC §1."""
    everyone = [(spec.creator_name, spec.creator_number), *spec.members]
    for _, number in everyone:
        if is_pool_number(number):
            raise ApiError(ErrorType.GROUP_FLIER_NUMBER, number)
    blocked = set(
        str(n)
        for n in Member.objects.filter(
            number__in=[n for _, n in everyone], blocked=True
        ).values_list("number", flat=True)
    )
    for _, number in everyone:
        if number in blocked:
            raise ApiError(ErrorType.BLOCKED_NUMBER, number)
    seen_numbers, seen_names = set(), set()
    for name, number in everyone:
        if number in seen_numbers:
            raise ApiError(ErrorType.DUP_NUMBER, number)
        if name.lower() in seen_names:
            raise ApiError(ErrorType.DUP_NAME, name)
        seen_numbers.add(number)
        seen_names.add(name.lower())
    if not spec.members:
        raise ApiError(ErrorType.NOT_ENOUGH_MEMBERS)
    if len(everyone) > settings.GROUPFLIER_MAX_GROUP_MEMBERS:
        raise ApiError(ErrorType.TOO_MANY_MEMBERS)


def pending_groups_of(member: Member):
    cutoff = timezone.now() - settings.GROUPFLIER_PENDING_GROUP_TTL
    return Group.objects.filter(owner=member, status=Group.Status.PENDING, created_at__gt=cutoff)


@transaction.atomic
def create_group(spec: NewGroup, session_member: Member | None) -> Created:
    check_new_group(spec)
    creator = get_or_create_member(spec.creator_number)
    people = [(spec.creator_name, creator)] + [
        (name, get_or_create_member(number)) for name, number in spec.members
    ]
    # Everyone at once, in id order: two creations sharing members cannot deadlock.
    lock_members([member for _, member in people])
    # A group is live at once only when its creator has proved the number with a session.
    active = session_member is not None and session_member.pk == creator.pk
    if not active and pending_groups_of(creator).count() >= settings.GROUPFLIER_MAX_PENDING_GROUPS:
        raise ApiError(ErrorType.TOO_MANY_PENDING_GROUPS)

    if active:
        # Everyone but the creator gets a welcome now (SPEC §6). A staged group counts when
        # its creator activates it: anyone can stage one in someone else's name.
        throttles.check_adds(roster.adds_budget_of(creator.pk), len(spec.members))
    account, first_group = open_account(creator, email=spec.email)
    now = timezone.now()
    group = Group.objects.create(
        name=spec.name,
        owner=creator,
        status=Group.Status.ACTIVE if active else Group.Status.PENDING,
        activated_at=now if active else None,
        reply_to_owner=spec.reply_to_owner,
        source=spec.source or "",
    )
    memberships = [
        Membership.objects.create(
            group=group, member=member, name=name, address=choose_address(member, group)
        )
        for name, member in people
    ]
    if active:
        notices.welcome_everyone(group)
    if spec.send_pin:
        send_login_pin(creator)
    return Created(group=group, creator=memberships[0], first_group=first_group)


# --- Activation and expiry of staged groups (SPEC §2) -----------------------------------------


@transaction.atomic
def activate_group(group: Group) -> bool:
    """A pending group goes live and every member gets their welcome. False if it was not
    pending (already live, expired, deleted): a second activation texts nobody twice."""
    went_live = Group.objects.filter(pk=group.pk, status=Group.Status.PENDING).update(
        status=Group.Status.ACTIVE, activated_at=timezone.now()
    )
    if not went_live:
        return False
    group.refresh_from_db()
    notices.welcome_everyone(group)
    return True


@transaction.atomic
def retire(group: Group) -> None:
    """DELETED: kept for the admin, but its group numbers and invite code are free again."""
    Group.objects.filter(pk=group.pk).update(
        status=Group.Status.DELETED, deleted_at=timezone.now(), invite_code=None, is_public=False
    )
    group.memberships.update(address=None)


def expire_pending_groups() -> int:
    """Staged groups never activated within GROUPFLIER_PENDING_GROUP_TTL are dropped; their
    members were never texted. Safe to run twice, or beside an activation."""
    cutoff = timezone.now() - settings.GROUPFLIER_PENDING_GROUP_TTL
    stale = Group.objects.filter(status=Group.Status.PENDING, created_at__lte=cutoff)
    expired = 0
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            group = stale.select_for_update().filter(pk=pk).first()
            if group is not None:
                retire(group)
                expired += 1
    return expired


# --- /group/set ---------------------------------------------------------------------------

INVITE_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # nothing to misread in a text
INVITE_CODE_ATTEMPTS = 10


@dataclass
class GroupSettings:
    """The optional settings of /group/set; None leaves a setting as it is."""

    name: str | None = None
    notify_on_add: bool | None = None
    reply_to_owner: bool | None = None
    disable_who: bool | None = None
    disable_add: bool | None = None
    invite_code: str | None = None
    is_public: bool | None = None
    description: str | None = None


def is_valid_invite_code(code: str) -> bool:
    return INVITE_CODE_PATTERN.fullmatch(code) is not None


def with_invite_code(code: str):
    """Groups whose code is ``code``, compared as the unique constraint does."""
    return Group.objects.alias(lower_code=Lower("invite_code")).filter(
        lower_code=Lower(Value(code))
    )


def new_invite_code(group_name: str) -> str:
    """Readable (the group's name) yet hard to guess: a private group's code is its key."""
    stem = re.sub(r"[^a-z0-9]", "", group_name.lower())[:12] or "group"
    tail = "".join(secrets.choice(INVITE_CODE_ALPHABET) for _ in range(6))
    return f"{stem}-{tail}"


def _claim_invite_code(group: Group, wanted: str | None) -> None:
    """Give ``group`` the code ``wanted``, or a new one when None.

    The unique constraint settles a race with another group claiming the same code.
    """
    for _ in range(INVITE_CODE_ATTEMPTS):
        code = wanted or new_invite_code(group.name)
        if wanted is None and with_invite_code(code).exists():
            continue
        try:
            with transaction.atomic():
                Group.objects.filter(pk=group.pk).update(invite_code=code)
        except IntegrityError:
            if wanted is not None:
                raise ApiError(ErrorType.USED_INVITE_CODE) from None
            continue
        group.invite_code = code
        return
    raise ApiError(ErrorType.SERVER_ERROR, "no free invite code", http_status=500)


@transaction.atomic
def update_group(actor: Membership, changes: GroupSettings) -> Group:
    """/group/set: the owner changes the group's settings. Answers the group with its invite
    code, which is made up the first time if the owner has not chosen one."""
    actor = locked(actor)
    group = actor.group
    if not actor.is_owner:
        raise ApiError(ErrorType.NOT_OWNER)
    code = changes.invite_code
    if code is not None and with_invite_code(code).exclude(pk=group.pk).exists():
        raise ApiError(ErrorType.USED_INVITE_CODE)
    name = changes.name or group.name
    description = changes.description or group.description
    if changes.is_public and not (name and description):
        raise ApiError(ErrorType.CANT_MAKE_PUBLIC)

    updated = []
    for field in fields(GroupSettings):
        value = getattr(changes, field.name)
        if value is not None and field.name != "invite_code":
            setattr(group, field.name, value)
            updated.append(field.name)
    if updated:
        group.save(update_fields=updated)
    if code is not None and code != group.invite_code:
        _claim_invite_code(group, code)
    elif group.invite_code is None:
        _claim_invite_code(group, None)
    return group


def update_group_with_pin(
    pin_number: str, pin: str, number: str, changes: GroupSettings
) -> tuple[Group, str]:
    """/group/set with ``pin`` + ``pin_number`` in place of a sid (SPEC §2).

    The PIN (or the account password) is checked exactly as /member/login checks it, with its
    lockout; then the group ``number`` names goes live if it is the creator's staged group,
    and the settings apply to it. Only that one: anyone can stage a group in someone else's
    name, and it must not go live because that person activated their own. All of it or
    nothing: an error in the settings leaves the PIN unused, so the creator can correct the
    call and send it again. Answers a fresh sid too.
    """
    refused = None
    with transaction.atomic():
        try:
            sid = member_actions.login(pin_number, pin, source="group/set")
        except ApiError as error:
            # Leave the block normally so the failed attempt is committed: it counts toward
            # the lockout.
            refused = error
        else:
            creator = Member.objects.get(number=pin_number)
            named = membership_for(creator, number)
            group = update_group(named, changes)
            if named.is_owner and pending_groups_of(creator).filter(pk=named.group_id).exists():
                # Last, after every other check: a refusal here spends nothing. The members'
                # welcomes count against the creator's budget now that it goes live (SPEC §6).
                others = named.group.memberships.count() - 1
                throttles.check_adds(roster.adds_budget_of(creator.pk), others)
                activate_group(group)
    if refused is not None:
        raise refused
    return group, sid


# --- /group/delete ------------------------------------------------------------------------


@transaction.atomic
def delete_group(actor: Membership) -> Group:
    actor = locked(actor)
    if not actor.is_owner:
        raise ApiError(ErrorType.NOT_OWNER)
    group = actor.group
    # Told while they still have a group number to hear it from.
    notices.group_deleted(group, deleted_by=actor)
    retire(group)
    return group


# --- Public groups, invitations, joining --------------------------------------------------

PUBLIC_LIST_LIMIT = 50
SHORT_SEARCH_LENGTH = 3


def joinable_group(invite_code: str, *, lock: bool = False) -> Group | None:
    """The live group an invite code opens. An administrator's suspension closes it."""
    if not is_valid_invite_code(invite_code):
        return None  # no group can have it: no need to ask the database
    groups = with_invite_code(invite_code).filter(status=Group.Status.ACTIVE, suspended=False)
    if lock:
        groups = groups.select_for_update()
    return groups.first()


def check_invite(invite_code: str) -> Group:
    """/group/invite/check: the group is there and has room."""
    group = joinable_group(invite_code)
    if group is None:
        raise ApiError(ErrorType.NOT_FOUND)
    if roster.is_full(group):
        raise ApiError(ErrorType.TOO_MANY_MEMBERS)
    return group


def default_member_name(group: Group, number: str) -> str:
    """A name for someone joining a reply_to_owner group without one: only the owner sees
    it, and the last digits let the owner tell who it is."""
    base = f"Member {number[-4:]}"
    name, n = base, 2
    while roster.named(group, name).exists():
        name, n = f"{base} ({n})", n + 1
    return name


@transaction.atomic
def join_group(invite_code: str, name: str | None, number: str) -> Membership:
    """/group/join (and an invite code texted to a service number, SPEC §4)."""
    group = joinable_group(invite_code, lock=True)
    if group is None:
        raise ApiError(ErrorType.NOT_FOUND)
    if name is None:
        if not group.reply_to_owner:
            raise ApiError(ErrorType.MISSING_FIELDS, ["name"])
        returning = group.memberships.filter(member__number=number).first()
        name = returning.name if returning else default_member_name(group, number)
    return roster.admit(group, name, number, added_by=None)


def name_required_to_join(invite_code: str | None) -> bool:
    """Only a reply_to_owner group does without a name; with no such group, one is needed."""
    group = joinable_group(invite_code) if invite_code else None
    return not (group and group.reply_to_owner)


def list_public_groups(
    *, search: str | None = None, newest: bool = False, number: str | None = None
) -> list[dict]:
    """/group/list: live public groups, by ``search`` over name and description, the newest,
    or else the biggest first. ``number`` fills ``is_member``."""
    if search is not None and len(search) < SHORT_SEARCH_LENGTH:
        raise ApiError(ErrorType.SHORT_SEARCH)
    owner_name = Membership.objects.filter(group=OuterRef("pk"), member=OuterRef("owner"))
    groups = Group.objects.filter(
        status=Group.Status.ACTIVE, is_public=True, suspended=False, invite_code__isnull=False
    ).annotate(seats=Count("memberships"), owner_name=Subquery(owner_name.values("name")[:1]))
    if number is not None:
        mine = Membership.objects.filter(group=OuterRef("pk"), member__number=number, bye=False)
        groups = groups.annotate(is_member=Exists(mine))
    if search is not None:
        groups = groups.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if newest and search is None:
        groups = groups.order_by("-activated_at", "-pk")
    else:
        groups = groups.order_by("-seats", "-activated_at", "-pk")
    capacity = settings.GROUPFLIER_MAX_GROUP_MEMBERS
    return [
        {
            "invite_code": group.invite_code,
            "name": group.name,
            "description": group.description,
            "owner": group.owner_name or "",
            "reply_to_owner": flag(group.reply_to_owner),
            "count": group.seats,
            "full": flag(group.seats >= capacity),
            "is_member": flag(getattr(group, "is_member", False)),
        }
        for group in groups[:PUBLIC_LIST_LIMIT]
    ]


def group_suspended(suspended: bool, owner_account: Account | None) -> bool:
    """An administrator's suspension of the group, or its owner's account suspended."""
    return suspended or bool(owner_account and owner_account.suspended)


def describe_memberships(member: Member) -> tuple[Account | None, list[dict]]:
    """The caller's own account (None: they have created no group) and the `groups` of
    /member/groups: each group the member is in, seen from the member's side.

    A pending group shows only to its creator, who is the one to activate it. Read as plain
    rows in two statements, whatever the number of groups and members (the account comes
    with the first; a member of no group has it read alone): clients poll this.
    """
    with connection.cursor() as cursor:
        cursor.execute(_MINE, [member.pk, member.pk])
        rows = cursor.fetchall()
        if rows:
            account_type, balance = rows[0][-2:]
            rows = [row[:-2] for row in rows]
        else:
            cursor.execute(_ACCOUNT, [member.pk])
            account_type, balance = cursor.fetchone() or (None, None)
        own = Account(type=account_type, balance=balance) if account_type is not None else None
        mine = [_mine_row(row) for row in rows]
        owners = {m.group_id: m.owner_id for m in mine}
        # *who is off for members: the roster would give away what it hides.
        hidden = {m.group_id for m in mine if m.disable_who and m.owner_id != member.pk}
        rosters = {group_id: [] for group_id in owners}
        if mine:
            cursor.execute(_ROSTER.format(ids=sql.placeholders(owners)), list(owners))
            # Up to thousands of rows: each goes straight into its answer (flags are 0 or 1
            # whether the database gives booleans or, SQLite, integers).
            for group_id, member_id, name, bye, broadcast, number in cursor.fetchall():
                owner_id = owners[group_id]
                if group_id in hidden and member_id not in (owner_id, member.pk):
                    continue
                rosters[group_id].append(
                    {
                        "name": name,
                        "number": number,
                        "bye": flag(bye),
                        "owner": flag(member_id == owner_id),
                        "broadcast": flag(broadcast),
                    }
                )

    described = []
    for mine_in in mine:
        owner_id = mine_in.owner_id
        owner_account = (
            Account(type=mine_in.account_type, balance=mine_in.account_balance)
            if mine_in.account_type is not None
            else None
        )
        described.append(
            {
                "name": mine_in.name,
                "number": mine_in.number,
                "bye": flag(mine_in.bye),
                "sms": flag(mine_in.sms),
                "owner": flag(member.pk == owner_id),
                "notify_on_add": flag(mine_in.notify_on_add),
                "reply_to_owner": flag(mine_in.reply_to_owner),
                "disable_who": flag(mine_in.disable_who),
                "disable_add": flag(mine_in.disable_add),
                "is_public": flag(mine_in.is_public),
                "invite_code": mine_in.invite_code,
                "description": mine_in.description,
                "suspended": flag(group_suspended(mine_in.suspended, owner_account)),
                "pending": flag(mine_in.status == Group.Status.PENDING),
                "members": rosters[mine_in.group_id],
            }
        )
    return own, described


# What /member/groups reads, as plain SQL (see groups.lookup): the caller's memberships with
# their group and its owner's account (and the caller's own account, the same on every row),
# then the rosters of those groups. Phone numbers come as
# the E.164 text stored: formatting a PhoneNumber costs ~60-80 us, most of a second for 20
# groups of 200.
MINE_FIELDS = ("group_id", "bye", "sms")
GROUP_FIELDS = (
    "name",
    "owner_id",
    "status",
    "notify_on_add",
    "reply_to_owner",
    "disable_who",
    "disable_add",
    "is_public",
    "invite_code",
    "description",
    "suspended",
)
MineRow = namedtuple(
    "MineRow", (*MINE_FIELDS, "number", *GROUP_FIELDS, "account_type", "account_balance")
)
_MINE = (
    f"SELECT {sql.select_list(Membership, 'ms', MINE_FIELDS)}, p.number,"
    f" {sql.select_list(Group, 'g', GROUP_FIELDS)}, acc.type, acc.balance,"
    f" own.type, own.balance {lookup.FROM}"
    f" LEFT JOIN {Account._meta.db_table} acc ON acc.member_id = g.owner_id"
    f" LEFT JOIN {Account._meta.db_table} own ON own.member_id = ms.member_id"
    f" WHERE {lookup.THEIRS} ORDER BY ms.id"
)
_ACCOUNT = f"SELECT type, balance FROM {Account._meta.db_table} WHERE member_id = %s"


def _mine_row(row) -> MineRow:
    mine, group = len(MINE_FIELDS), len(GROUP_FIELDS)
    return MineRow(
        *sql.converted(row[:mine], Membership, MINE_FIELDS),
        row[mine],
        *sql.converted(row[mine + 1 : mine + 1 + group], Group, GROUP_FIELDS),
        *row[mine + 1 + group :],
    )


ROSTER_FIELDS = ("group_id", "member_id", "name", "bye", "broadcast")
_ROSTER = (
    f"SELECT {sql.select_list(Membership, 'ms', ROSTER_FIELDS)}, mb.number"
    f" FROM {Membership._meta.db_table} ms JOIN {Member._meta.db_table} mb ON mb.id = ms.member_id"
    " WHERE ms.group_id IN ({ids}) ORDER BY ms.id"
)
