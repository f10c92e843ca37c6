"""The public namespace is pinned: adding or removing a name is a deliberate change."""

from __future__ import annotations

import smsc_async


def test_all_is_sorted_and_complete() -> None:
    names = smsc_async.__all__
    assert list(names) == sorted(names)
    for name in names:
        assert hasattr(smsc_async, name), name


def test_every_public_name_has_a_docstring() -> None:
    for name in smsc_async.__all__:
        obj = getattr(smsc_async, name)
        if name.startswith("__"):
            continue
        assert obj.__doc__, name


def test_error_tree_has_one_root() -> None:
    for name in smsc_async.__all__:
        obj = getattr(smsc_async, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, smsc_async.SMSCError), name
