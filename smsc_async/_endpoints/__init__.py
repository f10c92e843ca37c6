"""Endpoint groups: each module declares its calls as a mixin; ``EndpointsAPI`` joins them.

Adding an endpoint group means one new module here and one new base class below.
"""

from __future__ import annotations

from .account import AccountAPI
from .info import InfoAPI
from .messages import MessagesAPI

__all__ = ["EndpointsAPI"]


class EndpointsAPI(AccountAPI, MessagesAPI, InfoAPI):
    """Every endpoint method a :class:`~smsc_async.Session` offers."""
