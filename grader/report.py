"""The HTML report, rendered with Jinja2 from the results dict (never from live objects)."""

from __future__ import annotations

import importlib.resources
from typing import Any

import jinja2


def environment() -> jinja2.Environment:
    """A Jinja2 environment over the packaged templates, with autoescaping on."""
    loader = jinja2.FileSystemLoader(str(importlib.resources.files("grader.templates")))
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)


def render(results: dict[str, Any]) -> str:
    """The report page for one submission's results.json dict."""
    return environment().get_template("report.html.j2").render(**results, extra=results.get("extra_data", {}))
