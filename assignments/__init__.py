"""Assignments shipped with the grader: one folder each, holding assignment.toml and the student template."""
