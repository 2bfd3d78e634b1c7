"""A request on `ocpp.command-requests`: a command that command-api runs exactly as its REST
route would, audited under the broker user that sent it (docs/integrations.md, "Commands from a
back office"). Back offices send them; so does the load-manager, for the charging profiles it
keeps."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..ocpp.identity import CHARGE_POINT_ID_PATTERN
from .resources_base import JsonObject

__all__ = ["BackOfficeRequest"]


class BackOfficeRequest(BaseModel):
    """One message on `ocpp.command-requests`: the spec's spelling, nothing unknown."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    request_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        alias="requestId", description="Unique per broker user: a request seen before is not run"
    )
    charge_point_id: Annotated[str, StringConstraints(pattern=CHARGE_POINT_ID_PATTERN)] = Field(
        alias="chargePointId"
    )
    action: str
    payload: JsonObject = Field(default_factory=dict)
    timeout: float | None = Field(default=None, gt=0)

    def encode(self) -> bytes:
        """The message body: camelCase JSON, an absent timeout left out."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()
