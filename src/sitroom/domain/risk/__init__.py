"""Risk: forecast questions, ensemble members, aggregation and scoring."""
