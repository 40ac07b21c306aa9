"""docs/triage-evaluation.md is what the committed rules, model and sets score now."""

from services.devtools.evaluation_report import PAGE, SETS, render


def test_the_evaluation_page_is_current():
    page = render()
    assert all(f"## {name}" in page for name in SETS)
    assert PAGE.read_text(encoding="utf-8") == page, "run `python -m services.devtools.evaluation_report`"
