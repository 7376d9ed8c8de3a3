"""What a run changes: its version against its pipeline's previous successful run (from → to), for Manual
Judgment and deploy stage messages."""
