"""Who may act from Slack: the relay's policy, and Spinnaker's Fiat for judgments."""
