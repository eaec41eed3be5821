"""TOML parsing on every supported Python: the standard library's `tomllib` from 3.11 on, and on 3.10 the same
parser published on PyPI as `tomli` (a dependency there only)."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from tomllib import TOMLDecodeError, loads
else:
    from tomli import TOMLDecodeError, loads

__all__ = ["TOMLDecodeError", "loads"]
