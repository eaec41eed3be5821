"""Reference solutions, one folder per assignment, named like the assignment."""
