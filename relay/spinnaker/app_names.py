"""Spinnaker application names as people type them: what Front50 accepts, checked before any Gate call."""

from __future__ import annotations

import re

MAX_LENGTH = 200
# Front50's default ApplicationNameValidator: letters, digits, dot, dash and underscore.
VALID = re.compile(r"[A-Za-z0-9._-]+")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be an application's name, or None when it can. Names of dots alone are refused:
    as a URL path segment they mean "this folder" or "the parent folder", not an application."""
    if len(name) > MAX_LENGTH:
        return f"an application name has at most {MAX_LENGTH} characters"
    if not VALID.fullmatch(name):
        return "an application name has only letters, digits, dots, dashes and underscores"
    if not name.strip("."):
        return "an application name is more than dots"
    return None
