"""The Flask blueprints: thin adapters from HTTP to the features."""
