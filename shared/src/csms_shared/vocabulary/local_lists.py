"""A station's Local Authorization List in our terms: tokens with what the station is told of
each, whatever version it speaks (`csms_shared.ocpp.local_list` spells it in each)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .authorization import AuthorizationDecision
from .tokens import IdToken


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class ListEntry(_Model):
    """A token of the list and what the station is told of it; no `decision`: a difference
    that removes the token."""

    token: IdToken
    decision: AuthorizationDecision | None = None
    expiry: datetime | None = None
    group: IdToken | None = Field(default=None, description="The token's group (parent)")
    charging_priority: int = Field(default=0, ge=-9, le=9)

    def fits_v16(self) -> bool:
        """Whether a 1.6 station can hold it: its token and group of 20 characters at most."""
        return self.token.fits_v16() and (self.group is None or self.group.fits_v16())


class LocalList(_Model):
    """One SendLocalList: a version of the list, whole (`Full`) or what changed."""

    version: int
    update_type: Literal["Full", "Differential"]
    entries: list[ListEntry] = Field(default_factory=list)
