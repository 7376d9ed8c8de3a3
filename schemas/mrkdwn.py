"""Safe Slack text: escaping values from events, links, custom text without broadcasts, truncation, and
the last check every payload passes on its way to Slack."""

from __future__ import annotations

import re
import time
from typing import Any

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_BRACKETS = str.maketrans({"<": "&lt;", ">": "&gt;"})
# Mentions and links a pipeline author may write in custom text on purpose; broadcasts are not among them.
_ALLOWED_TOKEN = re.compile(r"<(?:@[UW][A-Z0-9]+|#C[A-Z0-9]+(?:\|[^<>]*)?|!subteam\^S[A-Z0-9]+|"
                            r"(?:https?|mailto):[^<>|\s]+(?:\|[^<>]*)?)>")
# The control sequences the relay's own templates write: mentions, channel links, dates and links.
_COMPOSED_TOKEN = re.compile(r"<(?:@[UW][A-Z0-9]+|#C[A-Z0-9]+(?:\|[^<>]*)?|!subteam\^S[A-Z0-9]+(?:\|[^<>]*)?|"
                             r"!date\^\d+\^[^<>|]*(?:\|[^<>]*)?|(?:https?|mailto):[^<>|\s]+(?:\|[^<>]*)?)>")
_ANY_TOKEN = re.compile(r"<[^<>]*>?")
# Keys whose string values Slack reads as mrkdwn in a message body, attachment or view.
_MRKDWN_KEYS = frozenset({"text", "pretext", "footer", "fallback"})
ELLIPSIS = "…"
# Text from events is cut to this many characters before it is parsed: Slack shows at most 3000 in a block,
# and the patterns below must never see megabytes.
MAX_SOURCE_TEXT = 4000
MAX_EPOCH_SECONDS = 253_402_300_799  # 9999-12-31 23:59:59 UTC, the last time gmtime() can show


def escape(value: object) -> str:
    """Escape `&`, `<` and `>` so text from an event can never form a mention, broadcast or link."""
    return str(value).translate(_ESCAPES)


def link(url: str | None, label: object) -> str:
    """`<url|label>` with both parts escaped; just the escaped label when there is no URL."""
    if not url:
        return escape(label)
    return f"<{escape(url).replace('|', '%7C')}|{escape(label).replace('|', '¦')}>"


def safe_custom_text(text: object) -> str:
    """Keep user and group mentions, channel links and URLs a pipeline author wrote; escape everything else,
    so `<!channel>`, `<!here>` and `<!everyone>` reach Slack as plain text."""
    source = str(text)[:MAX_SOURCE_TEXT]
    parts, position = [], 0
    for match in _ALLOWED_TOKEN.finditer(source):
        parts.append(escape(source[position:match.start()]))
        parts.append(match.group(0))
        position = match.end()
    parts.append(escape(source[position:]))
    return "".join(parts)


def neutralize(text: str) -> str:
    """Escape every `<…>` sequence the relay's templates do not write (broadcasts such as `<!channel>`,
    malformed or unclosed tokens), so no forgotten escape can notify a channel."""
    def keep_or_escape(match: re.Match[str]) -> str:
        token = match.group(0)
        return token if _COMPOSED_TOKEN.fullmatch(token) else token.translate(_BRACKETS)

    return _ANY_TOKEN.sub(keep_or_escape, text)


def safe_payload(body: Any) -> Any:
    """A Slack payload (message, ephemeral, view, ack) with every mrkdwn text neutralized: the one check
    that every body the relay sends to Slack passes. plain_text objects are left alone: Slack shows them
    as written."""
    if isinstance(body, list):
        return [safe_payload(item) for item in body]
    if not isinstance(body, dict):
        return body
    plain = body.get("type") == "plain_text"
    return {key: neutralize(value) if key in _MRKDWN_KEYS and isinstance(value, str) and not plain
            else safe_payload(value) for key, value in body.items()}


def truncate(text: str, limit: int) -> str:
    """Cut to `limit` characters with an ellipsis, never inside an escape sequence or a `<…>` token."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp, lt = cut.rfind("&"), cut.rfind("<")
    if amp > cut.rfind(";"):
        cut = cut[:amp]
    if lt > cut.rfind(">"):
        cut = cut[:lt]
    return cut + ELLIPSIS


def html_to_mrkdwn(html: object) -> str:
    """Instructions from a Manual Judgment stage (HTML or Markdown) as safe mrkdwn."""
    text = str(html)[:MAX_SOURCE_TEXT].replace("\x00", "")  # \x00 marks kept links below
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>", "\n", text)
    text = re.sub(r"(?i)<li[^>]*>", "• ", text)
    text = re.sub(r"(?i)<(b|strong)>(.*?)</\1>", r"*\2*", text, flags=re.S)
    text = re.sub(r"(?i)<(i|em)>(.*?)</\1>", r"_\2_", text, flags=re.S)
    text = re.sub(r"(?i)<code>(.*?)</code>", r"`\1`", text, flags=re.S)
    anchors: list[tuple[str, str]] = []

    def keep(url: str, label: str) -> str:
        anchors.append((url, re.sub(r"<[^>]+>", "", label)))
        return f"\x00{len(anchors) - 1}\x00"

    text = re.sub(r"(?is)<a\s[^>]{0,500}?href=[\"']([^\"'<>]+)[\"'][^>]{0,500}>(.*?)</a>",
                  lambda m: keep(m[1], m[2]), text)
    text = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", lambda m: keep(m[2], m[1]), text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    text = _unescape_html(text)
    text = escape(text)
    text = re.sub(r"\x00(\d+)\x00", lambda m: _anchor_link(anchors[int(m.group(1))]), text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _anchor_link(anchor: tuple[str, str]) -> str:
    url, label = anchor
    if not re.match(r"(?i)https?://", url):
        return escape(_unescape_html(label))
    return link(_unescape_html(url), _unescape_html(label))


def _unescape_html(text: str) -> str:
    return (text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
            .replace("&#39;", "'").replace("&nbsp;", " ").replace("&amp;", "&"))


def slack_date(epoch_seconds: float) -> str:
    """A date Slack shows in each reader's time zone, with a UTC fallback for clients that cannot. Times
    from events past the year 9999 (nonsense, but JSON allows them) show as that year's end."""
    epoch = int(min(max(epoch_seconds, 0), MAX_EPOCH_SECONDS))
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{fallback}>"
