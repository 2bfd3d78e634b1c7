"""Human accounts: users with argon2id passwords, console sessions, API access tokens."""

from .limiter import LoginLimits
from .passwords import password_problem
from .users import AccountError, LoginRefused, User

__all__ = ["AccountError", "LoginLimits", "LoginRefused", "User", "password_problem"]
