"""Small frozen values passed between the layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Route:
    """A config-file rule: notify `channel` for these `when` values on matching applications and pipelines."""

    application: str
    pipeline: str
    when: tuple[str, ...]
    channel: str


@dataclass(frozen=True)
class ApproverPolicy:
    """Who may act on an application from Slack; `four_eyes` bars whoever triggered the run."""

    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    anyone: bool = False
    four_eyes: bool = False


@dataclass(frozen=True)
class ReminderPolicy:
    """How often the relay reminds a channel of a waiting judgment, and whom it escalates to, and when
    (seconds; None: never). `escalate_to` holds Slack user group IDs (S...) and user IDs (U... or W...)."""

    every: float | None = None
    escalate_after: float | None = None
    escalate_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class RelayRules:
    """Everything the YAML configuration file holds."""

    routes: tuple[Route, ...] = ()
    approvers: dict[str, ApproverPolicy] = field(default_factory=dict)
    runners: dict[str, ApproverPolicy] = field(default_factory=dict)
    cancelers: dict[str, ApproverPolicy] = field(default_factory=dict)
    # Application glob -> the channel globs (names or IDs) its events may notify; empty: any channel.
    channels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Application glob -> reminders and escalation of its waiting judgments (first matching glob wins).
    reminders: dict[str, ReminderPolicy] = field(default_factory=dict)


@dataclass(frozen=True)
class EchoEvent:
    """One event as Echo forwards it, normalised from any of its body shapes."""

    event_id: str | None
    source: str | None
    type: str
    application: str | None
    content: dict[str, Any]

    @property
    def type_parts(self) -> tuple[str, str, str]:
        """`orca:stage:complete` -> ("orca", "stage", "complete"); missing parts are empty."""
        parts = self.type.split(":")
        return tuple((parts + ["", "", ""])[:3])  # type: ignore[return-value]

    @property
    def execution(self) -> dict[str, Any]:
        execution = self.content.get("execution")
        return execution if isinstance(execution, dict) else {}

    @property
    def execution_id(self) -> str | None:
        return self.content.get("executionId") or self.execution.get("id")


@dataclass(frozen=True)
class Notification:
    """A decision that one event notifies one Slack address, rendered with one message template."""

    event: EchoEvent
    address: str
    when: str
    template: str
    preference: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MessageFacts:
    """What a Slack message says, already escaped for mrkdwn; schemas/messages.py lays it out as Block Kit."""

    fallback: str
    summary: str
    headline: str | None = None
    facts: tuple[tuple[str, str], ...] = ()
    deployed: tuple[str, ...] = ()  # what the run deploys, one mrkdwn line each
    detail: str | None = None
    custom: str | None = None
    link: str | None = None
    link_label: str = "View in Spinnaker"
    footer: str | None = None
    actions: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class JudgmentRef:
    """Which judgment a button points at; only a pointer, as the relay re-reads the stage from Gate to act."""

    execution_id: str
    stage_id: str
    channel: str  # the notification address the message went to, as in the message map's keys
    choice: int | None = None  # an index into the stage's `judgmentInputs`


@dataclass(frozen=True)
class ClickOrigin:
    """The message a click came from: its channel ID, ts, and the thread it sits in."""

    channel_id: str | None = None
    message_ts: str | None = None
    thread_ts: str | None = None


@dataclass(frozen=True)
class SlackAction:
    """One element a user acted on: a button's value or a select's chosen option."""

    action_id: str
    value: str | None = None
    selected: str | None = None
    block_id: str | None = None


@dataclass(frozen=True)
class BlockActions:
    """A `block_actions` interaction: who clicked what, where, and what the message's inputs held."""

    user_id: str
    actions: tuple[SlackAction, ...]
    origin: ClickOrigin
    trigger_id: str | None = None
    selections: dict[str, str] = field(default_factory=dict)  # action_id -> chosen option value


@dataclass(frozen=True)
class ViewSubmission:
    """A `view_submission` interaction: who submitted which modal, with its inputs by action_id."""

    user_id: str
    callback_id: str
    private_metadata: str
    values: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ReasonRequest:
    """What the reject modal carries in `private_metadata` until it is submitted."""

    ref: JudgmentRef
    origin: ClickOrigin


@dataclass(frozen=True)
class SlashCommand:
    """One `/spinnaker …` invocation, as Slack sends it over HTTP or Socket Mode."""

    command: str
    text: str
    user_id: str
    channel_id: str
    channel_name: str | None = None
    response_url: str | None = None
    trigger_id: str | None = None
