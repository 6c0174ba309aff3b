"""The book as a whole: every chapter's setup cell, the publishing workflow."""

import json
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


def test_solutions_are_hidden_on_the_web_and_on_colab():
    """Web: a solution's code and output are behind a toggle. Colab (which renders no MyST): each solution is a
    form cell that shows only its title until the reader runs or opens it."""
    solutions = 0
    for name, cell, source in chapter_cells():
        if cell["cell_type"] == "markdown":
            assert ":::" not in source and "```{" not in source, f"{name}: MyST directives show as raw text on Colab"
            assert "Solution" not in source.split("\n")[0], f"{name}: a solution in a markdown cell is visible on Colab"
            continue
        if not source.startswith("#@title Solution") and not source.startswith("#@title Answer"):
            assert "# Solution" not in source.split("\n")[0], f"{name}: a solution cell without a Colab form title"
            continue
        solutions += 1
        tags = set(cell["metadata"].get("tags", []))
        assert cell["metadata"].get("cellView") == "form", name
        assert "hide-cell" in tags or {"remove-input", "hide-output"} <= tags, f"{name}: visible on the web: {tags}"
    assert solutions >= 20
