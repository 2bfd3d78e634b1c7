"""`python -m ws_gateway`."""

import uvloop

from .app import main


def run() -> None:
    """Entry point of the `ws-gateway` command."""
    uvloop.run(main())


if __name__ == "__main__":
    run()
