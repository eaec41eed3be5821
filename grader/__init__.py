"""Automated grading and teaching harness for deep-learning exercises."""

__version__ = "0.1.0"
