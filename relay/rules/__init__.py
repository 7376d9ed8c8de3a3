"""The relay's own rules from its YAML file: who may act (policy), and which addresses may be notified."""
