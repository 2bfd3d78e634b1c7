"""GET /ocpi/versions and /ocpi/2.2.1: what this CPO implements, and where."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..ocpi.types import VERSION
from ..ocpi.versions import Endpoint, InterfaceRole, ModuleId, Version, VersionDetails
from .answers import envelope
from .auth import AnyCaller
from .state import AppState

router = APIRouter()

# The modules implemented, and the interface role this CPO plays in each: the version details
# list only these (credentials: SENDER, as 2.2.1 advises for one's own).
IMPLEMENTED: tuple[tuple[ModuleId, InterfaceRole], ...] = (
    (ModuleId.CREDENTIALS, InterfaceRole.SENDER),
    (ModuleId.LOCATIONS, InterfaceRole.SENDER),
    (ModuleId.SESSIONS, InterfaceRole.SENDER),
    (ModuleId.CDRS, InterfaceRole.SENDER),
    (ModuleId.TARIFFS, InterfaceRole.SENDER),
    (ModuleId.TOKENS, InterfaceRole.RECEIVER),
    (ModuleId.COMMANDS, InterfaceRole.RECEIVER),
)


def details(base: str) -> VersionDetails:
    return VersionDetails(
        version=VERSION,
        endpoints=[
            Endpoint(identifier=module.value, role=role, url=f"{base}/{VERSION}/{module.value}")
            for module, role in IMPLEMENTED
        ],
    )


@router.get("/ocpi/versions")
async def versions(request: Request, caller: AnyCaller) -> JSONResponse:
    state: AppState = request.app.state.roaming
    base = state.settings.public_url
    return envelope([Version(version=VERSION, url=f"{base}/{VERSION}")])


@router.get(f"/ocpi/{VERSION}")
async def version_details(request: Request, caller: AnyCaller) -> JSONResponse:
    state: AppState = request.app.state.roaming
    return envelope(details(state.settings.public_url))
