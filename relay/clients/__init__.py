"""HTTP clients of Slack, Gate and Fiat: auth, timeouts, error mapping."""
