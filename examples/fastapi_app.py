"""A FastAPI app that sends confirmation codes by SMS: one Session for the whole app.

    pip install "smsc-async" fastapi uvicorn
    SMSC_LOGIN=alex SMSC_PASSWORD=… uvicorn examples.fastapi_app:app
    SMSC_LOGIN=alex SMSC_PASSWORD=… SMSC_LIMITS_FILE=/var/lib/sms/limits.sqlite3 \
        uvicorn --workers 4 examples.fastapi_app:app

(``SMSC_BASE_URL`` picks the regional host; the tests point it at the emulator.)

- The Session is opened in the app's lifespan and closed when the app stops: one connection pool
  and one limiter for every request, handed to the routes through the lifespan state.
- ``Session(max_wait=…)``: a request the limiter would hold longer (the 11th balance request in a
  minute, say) is refused at once with :class:`smsc_async.RateLimitedError`, answered here as
  ``429 Too Many Requests`` with a ``Retry-After`` header, instead of keeping the client waiting.
- Answers are returned with ``.to_dict()``: money as strings, dates in ISO 8601.

Each worker process has its own Session, so the workers must keep the login's rules together:
``SMSC_LIMITS_FILE`` names an SQLite file they share (:class:`smsc_async.sqlite.SQLiteBackend`;
across hosts use :class:`smsc_async.redis.RedisBackend` the same way).
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import smsc_async
from smsc_async.sqlite import SQLiteBackend

#: Longest a request may wait for its turn under the gateway's rate rules, in seconds.
MAX_WAIT = 2.0


def session_from_env(backend: smsc_async.LimiterBackend | None = None) -> smsc_async.Session:
    """The app's Session, configured from SMSC_LOGIN, SMSC_PASSWORD and SMSC_BASE_URL."""
    return smsc_async.Session(
        login=os.environ["SMSC_LOGIN"],
        password=os.environ["SMSC_PASSWORD"],
        base_url=os.environ.get("SMSC_BASE_URL", "https://smsc.ru"),
        backend=backend,
        max_wait=MAX_WAIT,
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    async with AsyncExitStack() as stack:
        backend = None
        if limits_file := os.environ.get("SMSC_LIMITS_FILE"):
            # The password as secret: the file's log names cannot be tested against guesses.
            shared = SQLiteBackend(limits_file, secret=os.environ["SMSC_PASSWORD"])
            backend = await stack.enter_async_context(shared)
        smsc = await stack.enter_async_context(session_from_env(backend))
        yield {"smsc": smsc}  # the lifespan state: request.state.smsc in every request


app = FastAPI(title="SMS codes", lifespan=lifespan)


def get_smsc(request: Request) -> smsc_async.Session:
    smsc: smsc_async.Session = request.state.smsc
    return smsc


Smsc = Annotated[smsc_async.Session, Depends(get_smsc)]


class CodeRequest(BaseModel):
    phone: str


@app.exception_handler(smsc_async.RateLimitedError)
async def rate_limited(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, smsc_async.RateLimitedError)
    # retry_after is inf when only an answer still in flight can free the slot: ask for 1 s.
    wait = exc.retry_after
    seconds = max(1, math.ceil(wait)) if math.isfinite(wait) else 1
    headers = {"Retry-After": str(seconds)}
    return JSONResponse({"detail": "SMS gateway busy, retry later"}, 429, headers=headers)


@app.exception_handler(smsc_async.SMSCError)
async def gateway_failed(request: Request, exc: Exception) -> JSONResponse:
    # Other failures of the gateway or the way to it; exception texts carry no secrets.
    return JSONResponse({"detail": f"SMS gateway: {exc}"}, status_code=502)


@app.get("/balance")
async def balance(smsc: Smsc) -> dict[str, Any]:
    return (await smsc.balance()).to_dict()


@app.post("/codes", status_code=201)
async def send_code(body: CodeRequest, smsc: Smsc) -> dict[str, Any]:
    code = f"{secrets.randbelow(10**6):06d}"
    try:
        sent = await smsc.send(body.phone, f"Your code: {code}")
    except ValueError as exc:  # a malformed number: refused before anything was sent
        raise HTTPException(status_code=422, detail=str(exc)) from None
    # A real app stores a hash of the code with the phone to check it later.
    return {"sent": sent.to_dict()}
