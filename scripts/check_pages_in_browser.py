"""Open every built page in a headless browser, as a reader would, and check what it shows.

    .venv/bin/python scripts/check_pages_in_browser.py _build/html --mathjax /path/to/mathjax/es5 --shots shots/

For each page of the table of contents, Chromium (``chromium --headless``) loads the page,
runs its scripts (MathJax included) and hands back the rendered DOM; the check fails when

- a formula is left as raw TeX or MathJax reports a TeX error (``mjx-merror``),
- a MyST directive (``:::``) or a markdown table shows as text,
- a figure is missing, or the page shows a traceback or a warning.

The built pages load MathJax from a CDN. On a machine without internet (like the book's build
machine) pass ``--mathjax`` with a local copy of MathJax 3's ``es5`` folder, for example from
``npm pack mathjax@3`` (the page is checked on a copy, with the CDN address replaced). With
``--shots`` it also saves a screenshot of the top of each page, to look at.
"""

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDN = re.compile(r'src="https://cdn\.jsdelivr\.net/npm/mathjax@3/es5/([^"]+)"')


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    raise SystemExit("no Chromium found: install it (Debian: apt-get install chromium)")


def rendered_dom(page: Path) -> str:
    result = subprocess.run([browser(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=30000",
                             "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    return result.stdout


def check_page(name: str, dom: str) -> list:
    problems = []
    article = dom.split('<article', 1)[-1].split('</article>', 1)[0]
    # the prose a reader sees: without code listings, scripts, styles and MathJax's hidden MathML copies
    prose = re.sub(r"<(pre|code|script|style|mjx-assistive-mml)\b.*?</\1>", " ", article, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", prose))
    formulas = article.count("<mjx-container")
    chapter = re.fullmatch(r"book/\d\d_.*", name) is not None  # the cards page has no formulas or figures
    if formulas == 0 and (chapter or name == "intro"):
        problems.append("no formula was typeset by MathJax (is MathJax reachable? see --mathjax)")
    if "mjx-merror" in article:
        problems.append(f"{article.count('mjx-merror')} TeX error(s) shown by MathJax")
    raw_math = re.findall(r"(?<![\w$])\$[^$\n]{0,80}\\[a-zA-Z]+[^$\n]{0,80}\$", text)
    if raw_math:
        problems.append(f"raw TeX left in the text, e.g. {raw_math[0][:60]!r}")
    if ":::" in text:
        problems.append("a MyST ':::' directive shows as text")
    if re.search(r"\|\s*:?-{3,}:?\s*\|", text):
        problems.append("a markdown table shows as text")
    if article.count("<img") < (3 if chapter else 1 if name == "intro" else 0):
        problems.append(f"only {article.count('<img')} figures")
    for bad in ("Traceback (most recent call last)", "Warning:"):
        if bad in text:
            problems.append(f"shows {bad!r}")
    return [f"{name}: {p}" for p in problems] + ([] if problems else [f"{name}: OK ({formulas} formulas typeset, "
                                                                        f"{article.count('<img')} figures)"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("html_dir", nargs="?", default=str(ROOT / "_build" / "html"))
    parser.add_argument("--mathjax", help="a local MathJax 3 es5 folder, used instead of the CDN")
    parser.add_argument("--shots", help="save a screenshot of the top of each page in this folder")
    args = parser.parse_args()
    pages = ["intro"] + re.findall(r"file:\s*(book/\S+)", (ROOT / "_toc.yml").read_text())
    problems, lines = 0, []
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "html"
        shutil.copytree(args.html_dir, site)
        for name in pages:
            page = site / (f"{name}.html" if name != "intro" else "book/intro.html")
            if not page.exists():
                page = site / "index.html" if name == "intro" else page
            if not page.exists():
                lines.append(f"{name}: page missing")
                problems += 1
                continue
            if args.mathjax:
                local = Path(args.mathjax).resolve()
                page.write_text(CDN.sub(lambda m: f'src="{(local / m.group(1)).as_uri()}"', page.read_text()))
            result = check_page(name, rendered_dom(page))
            problems += sum(not line.endswith(")") or ": OK" not in line for line in result)
            lines += result
            if args.shots:
                Path(args.shots).mkdir(parents=True, exist_ok=True)
                shot = Path(args.shots).resolve() / f"{Path(name).name}.png"
                subprocess.run([browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                "--virtual-time-budget=30000", f"--screenshot={shot}", "--window-size=1280,1600",
                                page.as_uri()], capture_output=True, timeout=180)
    print("\n".join(lines))
    print(f"checked {len(pages)} pages in a browser: {'OK' if not problems else f'{problems} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
