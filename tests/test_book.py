"""The book as a whole: every chapter's setup cell, the publishing workflow, what the reader sees of the code, the
model cards page."""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_chapter_installs_the_package_version_of_the_book_from_the_configured_repository():
    result = subprocess.run([sys.executable, "scripts/sync_setup_cells.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    import ddpm_from_scratch

    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        first = next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        source = "".join(first["source"])
        assert f"@v{ddpm_from_scratch.__version__}\"" in source and "raise RuntimeError" in source, path.name
        assert max(len(line) for line in source.splitlines()) <= 79, f"{path.name}: the setup cell is cut off"


def test_the_package_version_is_stated_once_for_pip_and_once_for_python():
    import ddpm_from_scratch

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{ddpm_from_scratch.__version__}"' in pyproject


def test_the_book_is_published_from_main_by_a_workflow_that_builds_it_first():
    workflow = (ROOT / ".github" / "workflows" / "book.yml").read_text()
    for step in ("branches: [main]", "scripts/tag_release.sh", "scripts/build_book.sh", "actions/deploy-pages",
                 "upload-pages-artifact"):
        assert step in workflow, step



def chapter_cells():
    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            yield f"{path.name}[{i}]", cell, "".join(cell["source"])


FORM_TITLE = re.compile(r"#\s*@title\b")
SOLUTION = re.compile(r"#\s*@title (Solution|Answer)")


def test_solutions_are_hidden_on_the_web_and_on_colab():
    """Web: a solution's code and output are behind a toggle. Colab (which renders no MyST): each solution is a
    form cell that shows only its title until the reader runs or opens it."""
    solutions = 0
    for name, cell, source in chapter_cells():
        if cell["cell_type"] == "markdown":
            assert ":::" not in source and "```{" not in source, f"{name}: MyST directives show as raw text on Colab"
            assert "Solution" not in source.split("\n")[0], f"{name}: a solution in a markdown cell is visible on Colab"
            continue
        if not SOLUTION.match(source):
            assert "Solution" not in source.split("\n")[0], f"{name}: a solution cell without a Colab form title"
            continue
        solutions += 1
        tags = set(cell["metadata"].get("tags", []))
        assert cell["metadata"].get("cellView") == "form", f"{name}: a solution that Colab shows in full"
        assert "hide-cell" in tags or {"remove-input", "hide-output"} <= tags, f"{name}: visible on the web: {tags}"
    assert solutions >= 20


def test_no_visible_cell_only_formats_figures_into_a_table_or_a_sentence():
    """Tables are DataFrames (HTML tables on the web, in Jupyter and on Colab), never Markdown built in code; a cell
    that phrases figures into a sentence is hidden on the web (remove-input) and folds on Colab (a form cell)."""
    for name, cell, source in chapter_cells():
        if cell["cell_type"] != "code":
            continue
        assert "|---" not in source and "|:--" not in source, f"{name}: a Markdown table built in code: use a DataFrame"
        if "Markdown(" in source:
            tags = set(cell["metadata"].get("tags", []))
            assert "remove-input" in tags, f"{name}: a cell that phrases figures shows its code on the web"
            assert cell["metadata"].get("cellView") == "form" and FORM_TITLE.match(source), (
                f"{name}: a cell that phrases figures is not a Colab form cell (cellView form and a # @title line)")


# What a chapter never shows: how and where our models were trained. Those records live on the model cards page.
RUN_HISTORY_KEYS = ["hardware", "wall_time_s", "runs", "gpu_check", "fingerprint", "command", "not_shipped",
                    "initialised_from", "metrics_command"]
RUN_HISTORY_WORDS = re.compile(r"\b(H200|H100|2-core|a lease|working session|our runs?)\b")


def test_chapters_tell_ideas_not_how_our_models_were_trained():
    for name, cell, source in chapter_cells():
        if cell["cell_type"] == "code":
            for key in RUN_HISTORY_KEYS:
                assert f'["{key}"]' not in source and f"['{key}']" not in source and f'"{key}",' not in source, (
                    f"{name}: shows the card's {key!r}: training records belong on the model cards page")
        else:
            found = RUN_HISTORY_WORDS.search(source)
            assert not found, f"{name}: {found and found.group()!r}: training records belong on the model cards page"


def test_chapters_name_no_device_but_the_one_their_setup_picked():
    """On Colab the setup cell picks CUDA: a model loaded onto a hard-coded device would meet inputs on another."""
    hard_coded = re.compile(r"""device\s*=\s*["']|\.to\(\s*["']|\.cuda\(\)|torch\.device\(\s*["']""")
    for name, cell, source in chapter_cells():
        if cell["cell_type"] == "code" and "BUDGET, DEVICE = setup" not in source:
            assert not hard_coded.search(source), f"{name}: names a device; use DEVICE"


def test_the_model_cards_page_shows_every_shipped_card_and_is_up_to_date():
    result = subprocess.run([sys.executable, "scripts/make_model_cards_page.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    page = (ROOT / "book" / "model_cards.md").read_text(encoding="utf-8")
    cards = sorted((ROOT / "ddpm_from_scratch" / "checkpoints").glob("*.json"))
    assert len(cards) >= 16
    for card in cards:
        assert f"\n## `{card.stem}`\n" in page, f"{card.stem}'s card is not on the page"
        assert json.loads(card.read_text(encoding="utf-8"))["metrics"] is not None
    assert "file: book/model_cards" in (ROOT / "_toc.yml").read_text()
