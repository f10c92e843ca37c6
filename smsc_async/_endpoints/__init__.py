"""The gateway's calls, one module per API area.

Each module declares its endpoints (:class:`~._base.Endpoint`, one per call) next to the methods
that run them: the calls a session offers itself (``smsc.send(…)``, in :class:`Calls` classes) and
the management namespaces (``smsc.senders.add(…)``, in :class:`Namespace` classes). The error
tables, the rate-rule charges and the concurrency groups are read from the declarations here, so
adding an endpoint touches its area's module only.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from .._errors import APIError
from . import channels, data, info, jobs, messages, misc, phones, senders, templates, users
from ._base import Endpoint
from .channels import ChannelCalls
from .data import DataCalls
from .info import InfoCalls
from .jobs import Jobs
from .messages import MessageCalls
from .misc import Documents, InboundNumbers, Notifications, OperatorTemplates
from .phones import Blacklist, Contacts, Groups
from .senders import Senders
from .templates import Templates
from .users import Users

__all__ = [
    "Blacklist",
    "ChannelCalls",
    "Contacts",
    "DataCalls",
    "Documents",
    "Groups",
    "InboundNumbers",
    "InfoCalls",
    "Jobs",
    "MessageCalls",
    "Notifications",
    "OperatorTemplates",
    "Senders",
    "Templates",
    "Users",
    "by_path",
    "declarations",
    "endpoint_for",
    "error_tables",
]

_AREAS: tuple[ModuleType, ...] = (
    messages,
    channels,
    info,
    data,
    senders,
    templates,
    jobs,
    phones,
    users,
    misc,
)


@functools.cache
def declarations() -> tuple[Endpoint[Any], ...]:
    """Every endpoint declared by the area modules, in declaration order."""
    seen: dict[int, Endpoint[Any]] = {}
    for module in _AREAS:
        for value in vars(module).values():
            if isinstance(value, Endpoint):
                seen.setdefault(id(value), value)
    return tuple(seen.values())


@functools.cache
def by_path() -> Mapping[str, tuple[Endpoint[Any], ...]]:
    """The declarations of each path, the most specific selector first."""
    index: dict[str, list[Endpoint[Any]]] = {}
    for endpoint in declarations():
        index.setdefault(endpoint.path, []).append(endpoint)
    out: dict[str, tuple[Endpoint[Any], ...]] = {}
    for path, group in index.items():
        # The most specific selector first: ``cost=1`` on send.php before plain sends.
        group.sort(key=lambda e: -len(e.selector))
        for a in group:
            for b in group:
                if a.selector == b.selector and (a.rules, a.concurrency) != (
                    b.rules,
                    b.concurrency,
                ):
                    raise RuntimeError(
                        f"{path} {dict(a.selector)}: two declarations with one selector are "
                        "charged differently: a request's rules cannot be told from its parameters"
                    )
        out[path] = tuple(group)
    return out


def endpoint_for(path: str, params: Mapping[str, str]) -> Endpoint[Any] | None:
    """The declaration a request to ``path`` with ``params`` (selector included) was made from."""
    for endpoint in by_path().get(path, ()):
        if all(params.get(k) == v for k, v in endpoint.selector):
            return endpoint
    return None


def error_tables() -> Mapping[str, Mapping[int, type[APIError]]]:
    """Error code → exception class per endpoint name, gathered from the declarations."""
    tables: dict[str, Mapping[int, type[APIError]]] = {}
    for endpoint in declarations():
        known = tables.setdefault(endpoint.name, endpoint.errors)
        if known != endpoint.errors:
            raise RuntimeError(f"endpoint {endpoint.name!r} is declared with two error tables")
    return tables
