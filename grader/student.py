"""What a student's notebook imports: `from grader.student import notebook_check; notebook_check()`.

`load_data` (the assignment's images, for a notebook's own experiments) and `notebook_check` (the
public checks on the kernel's functions, shown in the cell) are in grader.platforms.jupyter; this
module only gives them a short name. It is a module of its own, not `grader/__init__.py`, so that
`import grader`, which every process of the grader runs first, imports nothing.
"""

from grader.platforms.jupyter import load_data, notebook_check

__all__ = ["load_data", "notebook_check"]
