"""Endpoint groups: each module declares its calls as a mixin; ``EndpointsAPI`` joins them.

Adding an endpoint group means one new module here and one new base class below.
"""

from __future__ import annotations

from .account import AccountAPI
from .bulk import BulkAPI
from .data import DataAPI
from .extras import ExtrasAPI
from .info import InfoAPI
from .jobs import JobsAPI
from .messages import MessagesAPI
from .misc import MiscAPI
from .phones import PhonesAPI
from .senders import SendersAPI
from .templates import TemplatesAPI
from .users import UsersAPI

__all__ = ["EndpointsAPI"]


class EndpointsAPI(
    AccountAPI,
    MessagesAPI,
    BulkAPI,
    InfoAPI,
    ExtrasAPI,
    TemplatesAPI,
    JobsAPI,
    PhonesAPI,
    UsersAPI,
    SendersAPI,
    DataAPI,
    MiscAPI,
):
    """Every endpoint method a :class:`~smsc_async.Session` offers."""
