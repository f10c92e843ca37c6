"""A Telegram bot (aiogram 3) that confirms a phone number by SMS and tells the SMS balance.

    pip install smsc-async aiogram
    BOT_TOKEN=… SMSC_LOGIN=alex SMSC_PASSWORD=… python examples/bot.py

A user writes their number; the bot texts it a code and the user writes the code back. ``/balance``
shows the account's balance.

One Session serves every chat: ``main()`` opens it and hands it to the dispatcher
(``build_dispatcher``), which passes it to each handler that has a parameter named ``smsc``, as it
does any keyword given to the Dispatcher. The Session keeps the gateway's rate rules for all chats
at once (a send waits for its turn); the handlers answer failures in words.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets

from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import Command
from aiogram.types import Message

import smsc_async

router = Router(name="sms")

#: Text that looks like a phone number: digits with the usual formatting, 7 to 15 digits.
PHONE_TEXT = r"^\+?[\d\s()\-]{7,20}$"
CODE_TEXT = r"^\d{6}$"


class Codes:
    """The code last sent to each chat, kept as a keyed hash and the number it went to."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._pending: dict[int, tuple[str, bytes]] = {}

    def _digest(self, code: str) -> bytes:
        return hmac.digest(self._key, code.encode(), hashlib.sha256)

    def issue(self, chat_id: int, phone: str) -> str:
        code = f"{secrets.randbelow(10**6):06d}"
        self._pending[chat_id] = (phone, self._digest(code))
        return code

    def check(self, chat_id: int, code: str) -> str | None:
        """The confirmed number when ``code`` is the one sent to this chat, else ``None``."""
        pending = self._pending.get(chat_id)
        if pending is None or not hmac.compare_digest(pending[1], self._digest(code)):
            return None
        del self._pending[chat_id]
        return pending[0]


@router.message(Command("balance"))
async def balance(message: Message, smsc: smsc_async.Session) -> None:
    try:
        account = await smsc.balance()
    except smsc_async.SMSCError as exc:
        await message.answer(f"The SMS gateway cannot tell now ({type(exc).__name__}).")
        return
    await message.answer(f"SMS balance: {account.balance} {account.currency or ''}".rstrip())


@router.message(F.text.regexp(CODE_TEXT))
async def check_code(message: Message, codes: Codes) -> None:
    phone = codes.check(message.chat.id, message.text or "")
    if phone is None:
        await message.answer("That code is not the one we sent. Send your number again.")
    else:
        await message.answer(f"Confirmed: {phone}.")


@router.message(F.text.regexp(PHONE_TEXT))
async def send_code(message: Message, smsc: smsc_async.Session, codes: Codes) -> None:
    number = message.text or ""
    code = codes.issue(message.chat.id, number)
    try:
        await smsc.send(number, f"Your code: {code}")
    except ValueError:  # refused before anything was sent
        await message.answer("That does not look like a phone number in international format.")
    except smsc_async.SendUnconfirmedError:
        # It may have gone out: sending again could deliver two codes.
        await message.answer("We could not confirm the SMS left. Wait a minute for it.")
    except smsc_async.SMSCError:
        await message.answer("The SMS could not be sent. Try again later.")
    else:
        await message.answer("We sent you a code by SMS: write it here.")


@router.message()
async def help_text(message: Message) -> None:
    await message.answer("Write your phone number to confirm it, or /balance.")


def build_dispatcher(smsc: smsc_async.Session) -> Dispatcher:
    """The bot's dispatcher: handlers receive ``smsc`` (the Session) and ``codes``."""
    dispatcher = Dispatcher(smsc=smsc, codes=Codes())
    dispatcher.include_router(router)
    return dispatcher


async def main() -> None:
    async with smsc_async.Session(
        login=os.environ["SMSC_LOGIN"],
        password=os.environ["SMSC_PASSWORD"],
        base_url=os.environ.get("SMSC_BASE_URL", "https://smsc.ru"),
    ) as smsc:
        bot = Bot(os.environ["BOT_TOKEN"])
        await build_dispatcher(smsc).start_polling(bot)


if __name__ == "__main__":
    asyncio.run(main())
