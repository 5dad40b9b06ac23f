"""Pages from Jinja2 templates (``jobs/publish/templates/``), autoescape on: audits, records of processing.

Pages are self-contained: inline CSS and SVG, nothing loaded from the network.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["g"] = lambda value: f"{value:g}"
    env.filters["sig"] = lambda value: f"{value:.3g}"
    return env


def render_page(template: str, **context: Any) -> str:
    """Render a template with autoescape on; values marked ``Markup`` (an SVG built here) pass as they are."""
    return _environment().get_template(template).render(**context)
