"""Events of the roaming service: what eMSPs told it over OCPI."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .event_base import At, Event
from .resources_base import Omit


class RoamingTokenChanged(Event):
    """An eMSP pushed a token (OCPI tokens PUT or PATCH) that changed what is stored: the
    token as it is now. One that an older push would have changed is not published."""

    emitter = "roaming"

    event: Literal["roaming.token_changed"] = "roaming.token_changed"
    country_code: str = Field(description="The token's owner (the eMSP), upper-case")
    party_id: str = Field(description="The token's owner (the eMSP), upper-case")
    uid: str = Field(description="As the eMSP sent it (compared without case)")
    type: str = Field(description="AD_HOC_USER, APP_USER, OTHER, RFID")
    contract_id: str
    group_id: Omit[str] = None
    valid: bool
    whitelist: str = Field(description="ALWAYS, ALLOWED, ALLOWED_OFFLINE, NEVER")
    last_updated: At
    platform_id: str = Field(description="The platform that pushed it")
