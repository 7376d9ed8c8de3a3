"""Who may act from Slack: the policy for a Slack user, with the facts Slack and Fiat tell, failing closed."""
