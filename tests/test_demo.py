"""`slackops-relay demo`: the whole loop in a terminal, with no Slack and no Spinnaker."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from relay.cli import cli
from relay.demo.terminal import message_lines


@pytest.mark.parametrize(
    ("args", "answer", "decided", "ended"),
    [
        pytest.param(["--approve"], None, "@U0DEMOUSER approved stage Approve production", "SUCCEEDED",
                     id="approve"),
        pytest.param(["--reject"], None, "@U0DEMOUSER rejected stage Approve production", "TERMINAL",
                     id="reject"),
        pytest.param([], "reject\n", "@U0DEMOUSER rejected stage Approve production", "TERMINAL",
                     id="prompted"),
    ],
)
def test_demo_runs_the_loop_from_event_to_finished_run(args: list[str], answer: str | None, decided: str,
                                                       ended: str) -> None:
    result = CliRunner().invoke(cli, ["demo", *args], input=answer, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    output = result.output
    waiting = output.index("┌─ #deploys › reply in the run's thread, also sent to the channel")
    assert output.index("┌─ #deploys · new message") < waiting
    assert "[ Approve ]  [ Reject ]" in output[waiting:]
    clicked = output.index("a signed click goes to http://127.0.0.1:")
    assert waiting < clicked < output.index(decided)
    assert output.index("┌─ #deploys · the judgment message, updated in place") > clicked
    assert output.index("┌─ #deploys · the run's message, updated in place") > clicked
    assert f"the stage is {ended}" in output
    assert output.rstrip().endswith(f"Done: the run ended {ended}. With SLACK_BOT_TOKEN set, these messages "
                                    "go to #deploys in Slack.")


def test_demo_lays_blocks_out_as_slack_shows_them() -> None:
    body = {"text": "fallback", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": ":white_check_mark: Deployed"}},
        {"type": "section",
         "text": {"type": "mrkdwn", "text": "*<https://deck/x|Deploy>* at <!date^0^{date}|then>"},
         "fields": [{"type": "mrkdwn", "text": "*Application*\nshop"},
                    {"type": "mrkdwn", "text": "*Status*\nSUCCEEDED"}]},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"}}]},
    ]}

    lines = message_lines(body, title="#deploys")

    assert [line.rstrip(" │").removeprefix("│ ") for line in lines[1:-1]] == [
        "✅ Deployed", "═" * 10, "Deploy at then",
        "Application                           Status",
        "shop                                  SUCCEEDED",
        "[ Open ]",
    ]
    assert lines[0].startswith("┌─ #deploys ") and lines[-1].startswith("└")
