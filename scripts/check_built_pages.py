"""Check the built HTML: every chapter page exists, has figures, and shows no warning, traceback or raw table."""

import re
import sys
from pathlib import Path

BAD = ["Traceback (most recent call last)", "Warning:", "UserWarning", "DeprecationWarning", "FutureWarning",
       "output stderr", "IProgress not found",
       "&lt;Figure size"]  # a figure printed as text instead of drawn: the kernel had no inline backend


def main(html_dir: str) -> int:
    root = Path(html_dir)
    toc = (Path(__file__).parent.parent / "_toc.yml").read_text()
    chapters = re.findall(r"file:\s*(book/\S+)", toc)
    problems = []
    for chapter in chapters:
        page = root / f"{chapter}.html"
        if not page.exists():
            problems.append(f"{page}: missing")
            continue
        text = page.read_text(encoding="utf-8")
        problems += [f"{page}: contains {bad!r}" for bad in BAD if bad in text]
        # a markdown table shown as text (|---|) instead of rendered: outside code listings, none may remain
        prose = re.sub(r"<pre.*?</pre>|<code.*?</code>", "", text, flags=re.S)
        raw = re.findall(r"\|\s*:?(?:-{3,}|—+|–+):?\s*\|", prose)  # smart quotes turn --- into —
        if raw:
            problems.append(f"{page}: {len(raw)} markdown table(s) shown as raw text")
        if re.fullmatch(r"book/\d\d_.*", chapter) and text.count('src="../_images/') < 3:  # the chapters, not the cards
            problems.append(f"{page}: fewer than 3 figures")
    for p in problems:
        print("problem:", p)
    print(f"checked {len(chapters)} chapter pages: {'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
