"""Models of templates, mailing lists, the phone book and sub-clients."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs

from ._base import Model
from .messages import OpenIntEnum

__all__ = [
    "Contact",
    "ContactGroup",
    "Job",
    "JobCreated",
    "JobStatus",
    "Template",
    "UserStat",
]


@attrs.frozen(kw_only=True)
class Template(Model):
    """A message template (templates.php ``get``).

    ``format`` is the kind of message it is for (``"sms"``, ``"viber"``, ``"mail"`` …; ``None``
    for any); ``autosign`` whether the account's auto-signature is added.
    """

    id: int
    name: str
    msg: str
    format: str | None = None
    sender: str | None = None
    autosign: bool = False


class JobStatus(OpenIntEnum):
    """State of a mailing list (jobs.php)."""

    SCHEDULED = 0
    DONE = 1
    CANCELLED = 2


@attrs.frozen(kw_only=True)
class JobCreated(Model):
    """What jobs.php ``add`` answered: the mailing's ``id`` and, when asked for, its ``cost``."""

    id: int
    cost: Decimal | None = None


@attrs.frozen(kw_only=True)
class Job(Model):
    """A mailing list (jobs.php ``get`` / ``get_all``).

    ``time`` is when it starts (aware, Moscow-based); ``cnt`` the number of recipients; ``rpt``
    the repetition (0 none, 1 hourly, 2 daily, 3 working days, 4 weekends, 5 weekly, 6 monthly,
    7 yearly).
    """

    id: int
    name: str
    status: JobStatus
    mes: str
    phones: str
    cnt: int
    time: dt.datetime | None = None
    sender: str | None = None
    rpt: int = 0
    cost: Decimal | None = None


@attrs.frozen(kw_only=True)
class Contact(Model):
    """A contact of the phone book (phones.php ``get``); ``grp`` lists the ids of its groups."""

    id: int
    phone: str
    name: str | None = None
    fnm: str | None = None
    lnm: str | None = None
    mnm: str | None = None
    mail: str | None = None
    cmt: str | None = None
    grp: tuple[int, ...] = ()


@attrs.frozen(kw_only=True)
class ContactGroup(Model):
    """A contact group (phones.php ``get_group``); send to it with ``phones="G<num>"``.

    ``type`` is 0 for a group of numbers, 1 for one of e-mail addresses; ``cnt`` its size.
    """

    id: int
    name: str
    num: int
    type: int = 0
    cnt: int = 0


@attrs.frozen(kw_only=True)
class UserStat(Model):
    """Sending statistics of a sub-client (users.php ``get_stat`` / ``get_stat_all``).

    ``sms`` is the number of messages sent, ``credit`` what was spent and ``debit`` what was paid
    in over the period; ``balance`` the sub-client's balance now.
    """

    login: str
    sms: int
    credit: Decimal
    debit: Decimal
    balance: Decimal
    currency: str
