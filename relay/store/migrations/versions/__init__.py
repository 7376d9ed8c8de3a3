"""Migration revisions, applied in order by `slackops-relay db upgrade`."""
