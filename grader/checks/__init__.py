"""The checks: one module per kind of check, each a function from inputs to a CheckResult."""
