"""The package's own code in a chapter: ``show_source`` renders a function, class or module as a highlighted code
block (every chapter), so that what the book shows is what runs."""

import inspect
import textwrap


def show_source(obj):
    """The source of a function, class or module as syntax-highlighted Markdown.

    Chapters use this to show the package's real code rather than a copy. myst-nb
    renders a `text/markdown` output as Markdown, so the fenced block below becomes an
    ordinary highlighted code block in the book.
    """
    from IPython.display import Markdown  # only the book needs IPython

    source = textwrap.dedent(inspect.getsource(obj)).rstrip("\n")
    fence = "```"
    while fence in source:  # a longer fence if the code itself contains one
        fence += "`"
    return Markdown(f"{fence}python\n{source}\n{fence}")
