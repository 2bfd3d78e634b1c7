"""`python -m command_api [migrate]`."""

import sys

import uvloop
from pydantic import ValidationError

from .app import main, migrate
from .settings import Settings


def run() -> None:
    """Entry point of the `command-api` command; `migrate` only migrates."""
    try:
        settings = Settings()
    except ValidationError as exc:
        # A refused setting (a weak bootstrap key, say) is a sentence, not a traceback.
        problems = "\n".join(f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        sys.exit(f"command-api cannot start; its settings are refused:\n{problems}")
    if sys.argv[1:] == ["migrate"]:
        migrate(settings)
    else:
        uvloop.run(main(settings))


if __name__ == "__main__":
    run()
