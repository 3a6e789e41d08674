"""DAG source highlighted by Pygments: HTML with CSS classes only (the styles are in static/code.css).

Pygments escapes the source itself, so the result is safe to insert as markup.
"""

from __future__ import annotations

from markupsafe import Markup
from pygments import highlight as _highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

_FORMATTER = HtmlFormatter(linenos="table", cssclass="highlight", anchorlinenos=True, lineanchors="L")


def highlight(source: str) -> Markup:
    """The source as highlighted HTML (escaped by Pygments)."""
    return Markup(_highlight(source, PythonLexer(), _FORMATTER))  # Pygments escapes every token


def stylesheet() -> str:
    """The CSS for the highlighted code (written to static/code.css by ``python -m dagflow.www.code_view``)."""
    return str(HtmlFormatter(style="default").get_style_defs(".highlight"))  # type: ignore[no-untyped-call]  # Pygments' stubs leave it untyped


if __name__ == "__main__":
    print(stylesheet())
