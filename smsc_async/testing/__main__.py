"""``python -m smsc_async.testing``: serve the gateway emulator on a local port."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from smsc_async.testing._app import DEMO_API_KEY, DEMO_LOGIN, DEMO_PASSWORD, Emulator
from smsc_async.testing._server import make_config

#: What to tell a user whose environment lacks the server (uvicorn comes with the extra).
MISSING_SERVER = (
    "python -m smsc_async.testing serves the emulator with uvicorn, which is not installed.\n"
    "Install the emulator extra:  pip install 'smsc-async[emulator]'\n"
    "(In-process use needs no extra: httpx.ASGITransport(app=smsc_async.testing.Emulator()).)"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, print where the emulator listens, and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m smsc_async.testing", description="Serve the SMSC gateway emulator."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port to bind (default 8089)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every rate-rule window by this factor (0.01: an hour in 36 s)",
    )
    parser.add_argument(
        "--lenient", action="store_true", help="do not enforce rate rules, caps or IP blocks"
    )
    parser.add_argument(
        "--delivery-delay", type=float, default=1.0, help="seconds until a message is delivered"
    )
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale must be > 0")

    try:
        import uvicorn
    except ImportError:
        print(MISSING_SERVER, file=sys.stderr)
        return 2

    emulator = Emulator(
        scale=args.scale,
        strict=not args.lenient,
        delivery_delay=args.delivery_delay,
    )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"SMSC gateway emulator on http://{shown}:{args.port}  (e.g. /sys/balance.php)")
    print(f"demo account: login={DEMO_LOGIN} psw={DEMO_PASSWORD} apikey={DEMO_API_KEY}")
    mode = "lenient" if args.lenient else f"strict, rule windows x{args.scale:g}"
    print(f"rules: {mode}; Ctrl+C stops")
    sys.stdout.flush()
    uvicorn.Server(make_config(emulator, host=args.host, port=args.port)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
