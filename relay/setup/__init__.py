"""Installation helpers: doctor, the Slack app manifest, Echo's configuration."""
