"""Echo events to Slack messages: match (Echo's rules), plan (who gets what), render."""
