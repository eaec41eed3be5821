"""Automated grading and teaching harness for deep-learning exercises."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `from grader import notebook_check` in a Jupyter cell, while `import grader` itself stays light (PEP 562).
    if name == "notebook_check":
        from grader.platforms.jupyter import notebook_check

        return notebook_check
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
