"""Reading Spinnaker: what Orca's executions and stages say."""
