"""The auditor review desk (web UI)."""

from alerts.review.app import create_app
from alerts.review.auth import ROLES, LoginLimiter, User, add_user, authenticate

__all__ = ["ROLES", "LoginLimiter", "User", "add_user", "authenticate", "create_app"]
