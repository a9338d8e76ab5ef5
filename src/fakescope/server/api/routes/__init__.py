"""One router per resource: analyses (jobs) and meta (models, explainers, health)."""
