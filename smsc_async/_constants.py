"""Named defaults, in one place."""

from __future__ import annotations

import datetime as _dt

#: The main gateway host; regional hosts are smscentre.com, smsc.kz, smsc.ua, smsc.tj.
DEFAULT_BASE_URL = "https://smsc.ru"
#: Seconds to connect, read, write and wait for a pooled connection.
DEFAULT_TIMEOUT = 30.0
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
