"""Prompt templates (`prompts/*.j2`), rendered in one place with StrictUndefined.

A missing variable is an error, not an empty string, so a prompt never silently loses a fact.
Customer-supplied text must enter prompts only inside the marked `data` blocks of a template.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

__all__ = ["PROMPTS_DIR", "render", "template_hash"]

PROMPTS_DIR = Path(__file__).resolve().parent

_env = Environment(
    loader=FileSystemLoader(PROMPTS_DIR),
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(name: str, **values: object) -> str:
    """Render `prompts/<name>.j2`; raises jinja2.UndefinedError on a missing variable."""
    return _env.get_template(f"{name}.j2").render(**values)


def template_hash(name: str) -> str:
    """sha256 of the template source, recorded so an output names the prompt that made it."""
    return hashlib.sha256((PROMPTS_DIR / f"{name}.j2").read_bytes()).hexdigest()[:16]
