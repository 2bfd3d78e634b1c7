"""OCPP 1.6J (core and security extension): enums, datatypes, message payloads and actions."""

from .actions import *  # noqa: F403
from .actions import __all__ as _actions_all
from .datatypes import *  # noqa: F403
from .datatypes import __all__ as _datatypes_all
from .enums import *  # noqa: F403
from .enums import __all__ as _enums_all
from .messages import *  # noqa: F403
from .messages import __all__ as _messages_all

__all__ = [*_actions_all, *_datatypes_all, *_enums_all, *_messages_all]
