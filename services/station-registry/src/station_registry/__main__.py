"""`python -m station_registry [migrate]`."""

import asyncio
import sys

import uvloop

from .app import main, migrate


def run() -> None:
    """Entry point of the `station-registry` command; `migrate` only migrates."""
    if sys.argv[1:] == ["migrate"]:
        migrate()
    else:
        asyncio.run(main(), loop_factory=uvloop.new_event_loop)


if __name__ == "__main__":
    run()
