"""`python -m roaming [migrate]`."""

import sys

import uvloop

from .app import main, migrate


def run() -> None:
    """Entry point of the `roaming` command; `migrate` only migrates."""
    if sys.argv[1:] == ["migrate"]:
        migrate()
    else:
        uvloop.run(main())


if __name__ == "__main__":
    run()
