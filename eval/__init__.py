"""Evaluation: the field's accuracy metrics and the studio accuracy benchmark."""
