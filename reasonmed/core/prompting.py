"""Prompt files: Markdown with `## system` and `## user` sections holding Jinja2 templates.

Prompt files are DVC deps of the stages that use them, so editing one reruns exactly those
stages; their hash is stored on every record they produced.

    python -c "import reasonmed.core.prompting as m; print(m.load_prompt('stages/prompts/verify.md').hash)"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

from reasonmed.core.records import content_hash

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                          autoescape=False)


@dataclass(frozen=True)
class Prompt:
    path: str
    system: str | None
    user: str
    hash: str

    def render(self, **vars) -> tuple[str | None, str]:
        sys_ = _ENV.from_string(self.system).render(**vars).strip() if self.system else None
        return sys_, _ENV.from_string(self.user).render(**vars).strip()


@cache
def load_prompt(path: str) -> Prompt:
    text = Path(path).read_text(encoding="utf-8")
    # Sections start at "## system" / "## user" lines; anything before is a comment.
    parts = re.split(r"^## (system|user)\s*$", text, flags=re.MULTILINE)
    sections = dict(zip(parts[1::2], (p.strip("\n") for p in parts[2::2])))
    if "user" not in sections:
        raise SystemExit(f"{path}: prompt file needs a '## user' section")
    return Prompt(path, sections.get("system"), sections["user"], content_hash(text))


def format_options(options: dict[str, str]) -> str:
    """The one option format used in every prompt: 'A. text' lines (see README deviations)."""
    return "\n".join(f"{k}. {v}" for k, v in options.items())
