"""The shared shape of the doctor: named checks, diagnose(), and a Diagnosis written out."""

from __future__ import annotations

import json

import pytest

from rung.report.doctor import ERROR, INFO, WARNING, Finding, check_name, diagnose, named


@named("table.too_few_rows")
def too_few_rows(rows):
    return [] if len(rows) >= 10 else [Finding("table.too_few_rows", WARNING, "few", "more")]


def test_named_sets_the_name_a_diagnosis_lists_and_keeps_the_function():
    assert check_name(too_few_rows) == "table.too_few_rows"
    assert too_few_rows.__name__ == "too_few_rows" and too_few_rows([1] * 10) == []
    diagnosis = diagnose("t.csv", "table", [too_few_rows], [1, 2])
    assert diagnosis.checks == ["table.too_few_rows"]
    assert [f.check for f in diagnosis.findings] == diagnosis.checks


@pytest.mark.parametrize("bad", ["", None, 3])
def test_named_refuses_a_name_that_is_not_a_string(bad):
    with pytest.raises(ValueError, match="non-empty string, got"):
        named(bad)


def test_findings_sort_worst_first_and_write_md_and_json(tmp_path):
    def two(_):
        return [Finding("a", INFO, "an aside", "read it"), Finding("b", ERROR, "broken", "fix")]

    diagnosis = diagnose("subject", "run", [two], None)
    assert diagnosis.worst == ERROR
    assert [f.check for f in diagnosis.sorted_findings()] == ["b", "a"]
    files = diagnosis.write(tmp_path / "out")
    assert json.loads(files["json"].read_text())["findings"][0]["message"] == "broken"
    assert "**error** broken" in files["md"].read_text()


def test_a_check_returning_something_else_is_a_bug():
    with pytest.raises(TypeError, match="returned 'oops', not a Finding"):
        diagnose("s", "run", [lambda _: ["oops"]], None)
