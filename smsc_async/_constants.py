"""Named defaults, in one place."""

from __future__ import annotations

import datetime as _dt

#: The main gateway host; regional hosts are smscentre.com, smsc.kz, smsc.ua, smsc.tj.
DEFAULT_BASE_URL = "https://smsc.ru"
#: Seconds one attempt may take from the moment the limiter admits it: waiting for a pooled
#: connection, connecting, writing the request, waiting for and reading the whole answer.
DEFAULT_TIMEOUT = 30.0
#: Bytes an answer may have once decompressed (the largest real answers -- a long history, a
#: big phone book -- stay well below). A larger one is a ProtocolError, read no further.
DEFAULT_MAX_RESPONSE_SIZE = 4 * 1024 * 1024
#: After a lost send's deadline, how long :meth:`~smsc_async.Session.reconcile` still waits before
#: it trusts "not found": a request written just before the deadline may still be on its way to,
#: or being stored by, the gateway.
RECONCILE_GRACE = 5.0
#: Prefix of the message ids the session gives sends that carry none (the rest is random).
SESSION_ID_PREFIX = "sa"
#: Gateway dates are Moscow time, which has had no daylight saving since 2014.
MOSCOW = _dt.timezone(_dt.timedelta(hours=3), "MSK")
#: Documented upper bound of ``mes`` (older documentation said 800).
MAX_MESSAGE_LENGTH = 1000
#: ``id`` as an integer: 1..2**31-1.
MAX_MESSAGE_ID = 2_147_483_647
#: Alphanumeric sender names up to 11 characters, digit-only ones up to 15.
MAX_SENDER_LENGTH = 11
MAX_DIGIT_SENDER_LENGTH = 15
#: How long a session refuses requests after the gateway blocked its IP (error 4).
DEFAULT_IP_BLOCK_COOLDOWN = 600.0
#: Characters of a body quoted in a ProtocolError.
EXCERPT_LENGTH = 120
USER_AGENT = "smsc_async/0.1.0"
#: Numbers per info.php request. The gateway documents no maximum; 50 keeps every request small
#: and a refused batch cheap to split. A larger value is safe: a batch refused for its size is
#: split, and later batches are cut to the size that worked.
DEFAULT_LOOKUP_BATCH = 50
#: Look-up requests in flight at once (never more than ``RateLimits.concurrency``). The rule, not
#: the connection count, bounds the rate; a few requests in flight keep it saturated while leaving
#: the per-login connection cap to other calls of the same session.
DEFAULT_LOOKUP_CONCURRENCY = 4
#: Extra attempts after a transient failure (timeout, dropped connection, unreadable answer, error
#: 9 left after the session's own retries) and the waits before them, in seconds. A look-up has no
#: side effects, so repeating one is safe.
DEFAULT_LOOKUP_RETRIES = 2
#: Years a send ``time`` can name: the gateway reads ``DD.MM.YY hh:mm``, a two-digit year.
SEND_TIME_YEARS = (2000, 2099)
#: Money arguments (payments, invoices) must stay below this; larger ones are typos.
MAX_MONEY = 10**12
