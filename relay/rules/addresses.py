"""Which Slack addresses an event may reach: at most so many per event, and only allowed channels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from relay.config import Settings
from relay.models import EchoEvent, Notification

OVER_LIMIT, NOT_ALLOWED = "overLimit", "notAllowed"


@dataclass(frozen=True)
class Screened:
    """The notifications kept, and the addresses refused by reason (OVER_LIMIT, NOT_ALLOWED)."""

    notifications: tuple[Notification, ...]
    refused: dict[str, list[str]] = field(default_factory=dict)


def screen(notifications: tuple[Notification, ...], *, settings: Settings) -> Screened:
    """Drop the addresses a pipeline names that the channel allow-list does not permit, then those beyond
    RELAY_MAX_ADDRESSES_PER_EVENT. The relay's own routes come from the operator and are always kept."""
    kept: list[Notification] = []
    refused: dict[str, list[str]] = {}
    named = 0
    for notification in notifications:
        if notification.preference.get("route"):
            kept.append(notification)
        elif not permitted(settings.rules.channels, application(notification.event), notification.address):
            refused.setdefault(NOT_ALLOWED, []).append(notification.address)
        elif named >= settings.max_addresses_per_event:
            refused.setdefault(OVER_LIMIT, []).append(notification.address)
        else:
            named += 1
            kept.append(notification)
    return Screened(tuple(kept), refused)


def permitted(allow_list: Mapping[str, tuple[str, ...]], application: str | None, address: str) -> bool:
    """Whether the allow-list lets `application` reach `address`: no allow-list permits everything; else the
    first application glob that matches decides, and an application none matches reaches nothing. Globs and
    names are compared ignoring case and a leading `#`, as Slack's channel names are lower case."""
    if not allow_list:
        return True
    if application is None:
        return False
    for glob, channels in allow_list.items():
        if fnmatchcase(application.lower(), glob.lower()):
            return any(fnmatchcase(_channel(address), _channel(channel)) for channel in channels)
    return False


def join_refusal(settings: Settings, channel: str, application: str | None) -> str | None:
    """Why the bot must not join `channel` to post for `application`, or None when it may: joining is on,
    and the allow-list permits the channel or one of the relay's routes for the application names it."""
    if not settings.join_channels:
        return "joining channels is off (RELAY_JOIN_CHANNELS)"
    if not permitted(settings.rules.channels, application, channel) and not _routed(settings, application,
                                                                                     channel):
        return "the channel allow-list does not permit it"
    return None


def application(event: EchoEvent) -> str | None:
    """The application an event is about, as the allow-list and routes match it."""
    name = event.application or event.execution.get("application")
    return str(name) if name else None


def _routed(settings: Settings, application: str | None, channel: str) -> bool:
    return application is not None and any(
        fnmatchcase(application, route.application) and _channel(route.channel) == _channel(channel)
        for route in settings.rules.routes)


def _channel(value: str) -> str:
    return value.strip().lstrip("#").lower()
