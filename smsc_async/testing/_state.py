"""What the emulated gateway remembers: accounts, sent messages, incoming messages, counters."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import attrs

from smsc_async.testing._numbers import Operator

#: Status names as the gateway's status page lists them.
STATUS_NAMES = {
    -3: "Сообщение не найдено",
    -2: "Остановлено",
    -1: "Ожидает отправки",
    0: "Передано оператору",
    1: "Доставлено",
    2: "Прочитано",
    3: "Просрочено",
    4: "Нажата ссылка",
    20: "Невозможно доставить",
    22: "Неверный номер",
    23: "Запрещено",
    24: "Недостаточно средств",
    25: "Недоступный номер",
}


@attrs.define(kw_only=True, eq=False)
class Message:
    """One sent message to one recipient, as status.php reports it.

    Its status is a function of time: ``-1`` (queued) until half of the emulator's
    ``delivery_delay`` after ``start_at``, then ``0`` (handed to the operator), then
    ``final_status``/``final_err`` once ``delivery_delay`` has passed.
    """

    id: str
    phone: str
    text: str
    sender: str
    cost: Decimal
    parts: int
    type: int
    sent_at: float
    start_at: float
    final_status: int = 1
    final_err: int = 0
    operator: Operator | None = None
    comment: str = ""

    def state(self, now: float, delivery_delay: float) -> tuple[int, int, float]:
        """``(status, err, time of the last change)`` at emulator time ``now`` (unix seconds)."""
        handed = self.start_at + delivery_delay / 2
        done = self.start_at + delivery_delay
        if now >= done:
            return self.final_status, self.final_err, done
        if now >= handed:
            return 0, 0, handed
        return -1, 0, self.sent_at


@attrs.define(kw_only=True, eq=False)
class Incoming:
    """One message received on the account's number (for ``get.php?get_answers=1``)."""

    id: int
    phone: str
    message: str
    to_phone: str
    sent: float
    received: float


@attrs.define(kw_only=True, eq=False)
class Account:
    """One login of the emulated gateway; ``balance`` changes as messages are sent.

    ``messages`` maps ``(id, phone)`` to the latest message sent under that pair (ids are not
    necessarily unique); ``incoming`` holds received messages, oldest first.
    """

    login: str
    password: str
    api_key: str | None = None
    balance: Decimal = Decimal("0")
    currency: str = "RUR"
    credit: Decimal | None = None
    messages: dict[tuple[str, str], Message] = attrs.Factory(dict)
    incoming: list[Incoming] = attrs.Factory(list)

    def spendable(self) -> Decimal:
        """Balance plus credit: what sends may still spend."""
        return self.balance + (self.credit or Decimal("0"))


@attrs.define(kw_only=True, eq=False)
class Stats:
    """Counters for tests.

    * ``requests`` -- requests per path (every arrival, refused or not);
    * ``errors`` -- error answers per gateway error code (``stats.errors[9]``, ``stats.errors[4]``);
    * ``errors_by_path`` -- the same per path;
    * ``max_in_flight`` / ``max_status_in_flight`` -- the most simultaneous admitted requests per
      login (all endpoints / status.php);
    * ``faults`` -- applied faults per kind;
    * ``sms`` -- SMS parts sent (``cnt`` summed over successful sends).
    """

    requests: Counter[str] = attrs.Factory(Counter)
    errors: Counter[int] = attrs.Factory(Counter)
    errors_by_path: dict[str, Counter[int]] = attrs.Factory(dict)
    max_in_flight: Counter[str] = attrs.Factory(Counter)
    max_status_in_flight: Counter[str] = attrs.Factory(Counter)
    faults: Counter[str] = attrs.Factory(Counter)
    sms: int = 0

    def error(self, path: str, code: int) -> None:
        """Count one error answer."""
        self.errors[code] += 1
        self.errors_by_path.setdefault(path, Counter())[code] += 1

    def reset(self) -> None:
        """Zero every counter."""
        self.requests.clear()
        self.errors.clear()
        self.errors_by_path.clear()
        self.max_in_flight.clear()
        self.max_status_in_flight.clear()
        self.faults.clear()
        self.sms = 0
