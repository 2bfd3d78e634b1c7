"""Human accounts: users with argon2id passwords, console sessions, API access tokens."""

from .passwords import password_problem
from .users import AccountError, LoginLimits, LoginRefused, User

__all__ = ["AccountError", "LoginLimits", "LoginRefused", "User", "password_problem"]
