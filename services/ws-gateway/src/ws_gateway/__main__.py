"""`python -m ws_gateway`."""

import asyncio

import uvloop

from .app import main


def run() -> None:
    """Entry point of the `ws-gateway` command."""
    asyncio.run(main(), loop_factory=uvloop.new_event_loop)


if __name__ == "__main__":
    run()
