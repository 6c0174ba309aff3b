"""Write the book's last page, "Model cards", from the card files that ship beside the checkpoints.

Each shipped checkpoint ``ddpm_from_scratch/checkpoints/NAME.pt`` has a card ``NAME.json``: what the model is, the
recipe that made it, how and where it was trained (commands, hardware, wall times, runs), and what it measured. The
chapters cite a model by name and a headline figure; this page keeps the records. Every key of every card is shown:
short values in a table, long ones as text, lists of records as tables, nested records as their own sub-sections.

    .venv/bin/python scripts/make_model_cards_page.py           # rewrite book/model_cards.md
    .venv/bin/python scripts/make_model_cards_page.py --check   # exit 1 if the page differs from the cards (a test runs this)
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARDS = ROOT / "ddpm_from_scratch" / "checkpoints"
PAGE = ROOT / "book" / "model_cards.md"
SHORT = 60  # characters: a value this long or shorter goes in a table cell, a longer one is written out as text

INTRO = """# Model cards

Every checkpoint the book loads ships with a card: a JSON file beside its weights
(`ddpm_from_scratch/checkpoints/NAME.json`, read by `pretrained.card(NAME)` or `pretrained.load(NAME).card`).
A card says what the model is, the recipe that made it, how and where it was trained, and what it measured, with
the commands that measured it. The chapters cite a model by its name and one or two figures; this page keeps the
records, written from the card files by `scripts/make_model_cards_page.py`.

To train a model again from its recipe, and measure it the way its card was measured:

```bash
python -m ddpm_from_scratch train --recipe NAME      # add --device cuda on a GPU; --resume continues a stopped run
python -m ddpm_from_scratch evaluate --recipe NAME --checkpoint runs/NAME/NAME.pt
```

Training is seeded, so a run on the same hardware reproduces the weights; another processor or GPU rounds
differently and gives weights of the same quality, not the same bits. The cards below come in the order of the
recipes, the order in which the book meets them.
"""


def card_order() -> list[str]:
    """The shipped cards, in the order of the recipe table (the order the book meets them), then any others."""
    sys.path.insert(0, str(ROOT))
    from ddpm_from_scratch.recipes import RECIPES

    shipped = {path.stem for path in CARDS.glob("*.json")}
    return [name for name in RECIPES if name in shipped] + sorted(shipped - set(RECIPES))


def text(value) -> str:
    """A value as it reads on the page: numbers with thousands separators, everything else as written."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.1f}"
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(text(v) for v in value)
    return str(value)


def code_if_command(key: str, value) -> str:
    """A command (the card's keys say which values are) as code, so that it reads as typed: -- stays two dashes."""
    written = text(value)
    if "command" in key and "`" not in written:
        return f"`{written}`"
    return written


def cell(value) -> str:
    """A table cell: pipes escaped and line breaks folded, so the row stays one row."""
    return text(value).replace("|", "\\|").replace("\n", " ")


def table(rows: list[dict]) -> list[str]:
    """A list of records as a Markdown table, the union of their keys as columns (nested values written out)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        values = [json.dumps(row[c], ensure_ascii=False) if isinstance(row.get(c), dict) else row.get(c, "")
                  for c in columns]
        lines.append("| " + " | ".join(cell(v) for v in values) + " |")
    return lines


def heading(level: int, title: str) -> str:
    """A heading for a card (level 2) and the records in it (level 3); records nested deeper get a bold line, so
    the page's table of contents lists the cards and their parts and no more."""
    return f"{'#' * level} {title}" if level <= 3 else f"**{title}**"


def section(record: dict, level: int, title: str | None = None) -> list[str]:
    """One card, or one record nested in it: short values as a two-column table, long ones as text, then the
    lists of records and the nested records, each under its own heading."""
    lines = [heading(level, title), ""] if title else []
    short = {k: v for k, v in record.items()
             if not isinstance(v, (dict, list)) or (isinstance(v, list) and all(not isinstance(x, (dict, list))
                                                                                for x in v))}
    long = {k: v for k, v in short.items() if len(text(v)) > SHORT}
    rows = [(k, v) for k, v in short.items() if k not in long]
    if rows:
        lines += ["| field | value |", "|---|---|"] + [f"| {cell(k)} | {cell(code_if_command(k, v))} |"
                                                       for k, v in rows] + [""]
    for key, value in long.items():
        written = code_if_command(key, value)
        lines += [f"**{key}**: {written if written.startswith('`') else written.replace('<', '&lt;')}", ""]
    for key, value in record.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines += [heading(level + 1, key), ""] + table(value) + [""]
        elif isinstance(value, dict):
            lines += section(value, level + 1, key)
    return lines


def page() -> str:
    lines = [INTRO]
    for name in card_order():
        card = json.loads((CARDS / f"{name}.json").read_text(encoding="utf-8"))
        weights = CARDS / f"{name}.pt"
        lines += [f"({name}-card)=", f"## `{name}`", ""]
        if not weights.exists():
            lines += ["*Its weights no longer ship; the card keeps its record.*", ""]
        lines += section(card, 2)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    new = page()
    if "--check" in argv:
        if PAGE.exists() and PAGE.read_text(encoding="utf-8") == new:
            return 0
        print(f"{PAGE.relative_to(ROOT)} differs from the cards: run python scripts/make_model_cards_page.py")
        return 1
    PAGE.write_text(new, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)} ({len(card_order())} cards)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
