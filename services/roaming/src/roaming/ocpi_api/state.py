"""What the OCPI routes share: settings, the database, the handshake's rules."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..registration import Registrations
from ..settings import Settings


@dataclass(slots=True)
class AppState:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    registrations: Registrations
