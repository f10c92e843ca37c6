"""An emulator served on a loopback port, as the ``smsc_emulator`` pytest fixture hands it out."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from smsc_async.testing._app import DEMO_API_KEY, DEMO_LOGIN, DEMO_PASSWORD, Emulator
from smsc_async.testing._faults import Fault
from smsc_async.testing._state import Account, Stats

if TYPE_CHECKING:
    from smsc_async import Session


class ServedEmulator:
    """A fresh :class:`Emulator` served on loopback, with the demo account's credentials.

    What the ``smsc_emulator`` fixture gives a test::

        async def test_signup_sends_a_code(smsc_emulator: ServedEmulator) -> None:
            async with smsc_emulator.session() as smsc:
                await my_app.sign_up("79161234567", sms=smsc)
            assert smsc_emulator.stats.requests["/sys/send.php"] == 1

    ``base_url``, ``login``, ``password`` and ``api_key`` are what the code under test needs to
    reach it; :meth:`session` builds a configured ``smsc_async.Session``; :meth:`inject` makes the
    gateway misbehave (see :class:`Fault`); ``emulator`` is the application itself (accounts,
    messages, counters).
    """

    def __init__(self, emulator: Emulator, base_url: str, *, scale: float = 1.0) -> None:
        self.emulator = emulator
        #: ``http://127.0.0.1:PORT``: where the emulated gateway listens.
        self.base_url = base_url
        #: The demo account's credentials.
        self.login = DEMO_LOGIN
        self.password = DEMO_PASSWORD
        self.api_key = DEMO_API_KEY
        #: The factor the emulator's rule windows were multiplied by.
        self.scale = scale

    def __repr__(self) -> str:
        return f"<ServedEmulator {self.base_url} scale={self.scale:g}>"

    @property
    def stats(self) -> Stats:
        """The emulator's counters: requests per path, errors per code, faults applied."""
        return self.emulator.stats

    def session(self, **kwargs: Any) -> Session:
        """A ``smsc_async.Session`` for the demo account pointed at this emulator.

        Keyword arguments override the defaults (``login``, ``password``, ``base_url`` and, when
        the emulator runs on scaled windows, ``limits=RateLimits().scaled(scale)``);
        ``session(api_key=served.api_key)`` authorizes by API key instead of the password. Use
        it as ``async with served.session() as smsc: ...``.
        """
        # The one place the emulator package touches the client: building one for the user.
        import smsc_async

        options: dict[str, Any] = {"base_url": self.base_url}
        if "api_key" not in kwargs:
            options.update(login=self.login, password=self.password)
        if self.scale != 1:
            options["limits"] = smsc_async.RateLimits().scaled(self.scale)
        options.update(kwargs)
        return smsc_async.Session(**options)

    def inject(self, fault: Fault | None = None, /, **kwargs: Any) -> Fault:
        """Apply a :class:`Fault` to the next matching requests; returns it.

        Pass a ``Fault`` or its fields::

            served.inject(kind="error", path="/sys/send.php", error_code=8)
            # a send that is stored, then its answer is lost (the connection ends first):
            served.inject(kind="drop", path="/sys/send.php", after=True)
        """
        if fault is None:
            fault = Fault(**kwargs)
        elif kwargs:
            raise TypeError("pass a Fault or its fields, not both")
        self.emulator.inject(fault)
        return fault

    def clear_faults(self) -> None:
        """Forget every injected fault not yet used up."""
        self.emulator.clear_faults()

    def add_account(
        self, *, login: str, password: str, balance: Decimal = Decimal("0"), **kwargs: Any
    ) -> Account:
        """Create another account (see :meth:`Emulator.add_account`)."""
        return self.emulator.add_account(login=login, password=password, balance=balance, **kwargs)
