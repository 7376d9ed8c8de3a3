"""SlackOps Relay: Spinnaker pipelines in Slack, Manual Judgments decided from Slack."""
