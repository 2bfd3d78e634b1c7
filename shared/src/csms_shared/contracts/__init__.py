"""The contracts between services: RPC params (rpc.py) and event bodies (events.py)."""

from pydantic import ValidationError


def problems(exc: ValidationError) -> str:
    """Every error of a validation, `where: what`, joined by `; ` (camelCase locations)."""
    found = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"])
        what = err["msg"].removeprefix("Value error, ")
        found.append(f"{where}: {what}" if where else what)
    return "; ".join(found)
