"""A submission as read from disk: which file to grade, what its sandbox may see, a notebook's code, its top-level
work. Nothing here runs submitted code, and nothing here imports the sandbox or the grading above it."""
