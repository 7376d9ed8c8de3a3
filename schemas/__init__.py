"""Marshmallow schemas: what comes in from Echo, Slack and the config file, and the Block Kit that goes
out."""
