"""The `/spinnaker` slash command: status, pending, run, cancel, pause, resume."""
