"""Block Kit laid out for a terminal as Slack shows it: header, text, fields in two columns, context,
buttons and menus."""

from __future__ import annotations

import re
import textwrap
import unicodedata
from typing import Any

from schemas.mrkdwn import plain_text

WIDTH = 76
FIELD_WIDTH = 36
# The emoji the relay's messages use, as a terminal can show them.
EMOJI = {":alarm_clock:": "⏰", ":arrow_forward:": "▶", ":arrows_counterclockwise:": "🔄",
         ":double_vertical_bar:": "⏸", ":fast_forward:": "⏩", ":grey_question:": "❔", ":hourglass:": "⌛",
         ":hourglass_flowing_sand:": "⏳", ":mag:": "🔍", ":no_entry:": "⛔", ":no_entry_sign:": "🚫",
         ":octagonal_sign:": "🛑", ":warning:": "⚠", ":white_check_mark:": "✅", ":x:": "❌", ":zzz:": "💤"}
EMOJI_CODE = re.compile(r":[a-z0-9_+-]+:")


def message_lines(body: dict[str, Any], *, title: str) -> list[str]:
    """A message in a box headed by `title` (where it appears), its blocks in order, or its text alone."""
    lines: list[str] = []
    for block in body.get("blocks") or [{"type": "section", "text": {"text": body.get("text", "")}}]:
        lines += _block(block)
    inner = max([_width(line) for line in lines] + [len(title) + 2, 20])
    top = f"┌─ {title} " + "─" * (inner - len(title) - 1) + "┐"
    body = [f"│ {line}{' ' * (inner - _width(line))} │" for line in lines]
    return [top, *body, "└" + "─" * (inner + 2) + "┘"]


def _width(text: str) -> int:
    """Columns a terminal gives `text`: wide characters (most emoji) take two, variation selectors none."""
    return sum(0 if char == "\ufe0f" else 2 if unicodedata.east_asian_width(char) in "WF" else 1
               for char in text)


def _block(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        text = _text(block.get("text"))
        return [text, "═" * min(len(text), WIDTH)]
    if kind == "section":
        lines = _wrapped(_text(block.get("text"))) if block.get("text") else []
        lines += _fields([_text(field) for field in block.get("fields") or []])
        accessory = block.get("accessory")
        return lines + ([_element(accessory)] if accessory else [])
    if kind == "context":
        return _wrapped(" · ".join(_text(element) for element in block.get("elements") or []))
    if kind == "actions":
        return ["  ".join(_element(element) for element in block.get("elements") or [])]
    if kind == "divider":
        return ["─" * WIDTH]
    return [f"({kind} block)"]


def _fields(values: list[str]) -> list[str]:
    """Slack's two-column fields: each a label line and its value, side by side."""
    lines = []
    for index in range(0, len(values), 2):
        left = values[index].splitlines() or [""]
        right = values[index + 1].splitlines() if index + 1 < len(values) else []
        for row in range(max(len(left), len(right))):
            cell = left[row] if row < len(left) else ""
            other = right[row] if row < len(right) else ""
            lines.append((cell[:FIELD_WIDTH].ljust(FIELD_WIDTH) + "  " + other[:FIELD_WIDTH]).rstrip())
    return lines


def _element(element: dict[str, Any]) -> str:
    if element.get("type") == "button":
        return f"[ {_text(element.get('text'))} ]"
    if element.get("type") == "static_select":
        return f"[ {_text(element.get('placeholder')) or 'Choose'} ▾ ]"
    return f"({element.get('type')})"


def _text(obj: Any) -> str:
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text") or "")
    if obj.get("type") == "mrkdwn":
        text = plain_text(text).replace("*", "").replace("`", "")
    return EMOJI_CODE.sub(lambda match: EMOJI.get(match[0], match[0]), text)


def _wrapped(text: str) -> list[str]:
    return [line for paragraph in text.splitlines() for line in (textwrap.wrap(paragraph, WIDTH) or [""])]
