"""`slackops-relay demo`: the whole loop in a terminal, with a stand-in for Gate and no Slack."""
