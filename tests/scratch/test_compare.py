"""The side-by-side table: every scratch model next to the library model it mirrors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rung.scratch.compare import COLUMNS, format_comparison, titanic_comparison


@pytest.fixture(scope="module")
def table(titanic_dir) -> pd.DataFrame:
    return titanic_comparison(titanic_dir)


@pytest.mark.slow
def test_the_comparison_agrees_with_the_library_and_the_course(table):
    assert list(table.columns) == COLUMNS and len(table) == 11
    lesson5 = table[table.lesson == 5]
    mirrored = lesson5[lesson5.library_model.str.startswith("torch.nn")]
    assert len(mirrored) == 5
    # same init, same lr, same steps: the same accuracy, and the course's
    np.testing.assert_allclose(mirrored.scratch, mirrored.library)
    np.testing.assert_allclose(mirrored.scratch, mirrored.course, atol=1e-4)
    sklearn_logistic = lesson5[lesson5.library_model.str.contains("LogisticRegression")]
    assert (sklearn_logistic.library > 0.78).all()

    lesson6 = table[table.lesson == 6]
    assert (abs(lesson6.scratch - lesson6.library) <= 0.02).all()  # MAE = 1 - accuracy here
    with_course = lesson6.dropna(subset=["course"])
    assert (abs(with_course.scratch - with_course.course) <= 0.02).all()
    tops = lesson6.dropna(subset=["top3_scratch"])
    assert len(tops) == 4 and (tops.top3_scratch == tops.top3_library).all()


@pytest.mark.slow
def test_format_comparison_prints_every_row(table):
    text = format_comparison(table)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["lesson", "model", "metric"]
    assert sum(" accuracy " in line for line in lines) == 6
    assert sum(" MAE " in line for line in lines) == 5
    assert "0.7865" in text and "0.8258" in text and "one rule (OneR): Sex" in text
    assert (
        "random forest: 100 trees, min_samples_leaf=5: Sex, LogFare, Age | Sex, LogFare, Age"
        in text
    )


def test_format_comparison_rejects_other_tables():
    with pytest.raises(KeyError, match="not a titanic_comparison table"):
        format_comparison(pd.DataFrame({"model": ["x"]}))
