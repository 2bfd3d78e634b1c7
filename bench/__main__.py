"""`python -m bench`: what `make bench` runs."""

import uvloop

from .run import main

if __name__ == "__main__":
    raise SystemExit(uvloop.run(main()))
