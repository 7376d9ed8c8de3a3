"""Manual Judgments from Slack: clicks, messages, and resolution through Gate."""
