"""History files: time or dates, column names and maps, gaps, and one-line errors naming file/row/column."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest

import cxsystems as cx
from cxsystems.errors import CxError
from cxsystems.model.history import read_history

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def logistic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("logistic")
    shutil.copy(MODELS / "engine_logistic.mdl", folder / "logistic.mdl")
    return cx.load_model(folder / "logistic.mdl")


def _write(tmp_path, text, name="h.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_time_column_names_any_case_gaps_and_irregular_times(tmp_path, logistic):
    path = _write(tmp_path, "Time,population,growth_rate\n3,30,\n1,12.5,0.5\n7.5,,0.5\n2,\"1,200\",0.5\n")
    h = read_history(logistic, path)
    assert h.variables == ("Population", "Growth Rate")
    pop = h.get("POPULATION")
    assert pop.times.tolist() == [1.0, 2.0, 3.0] and pop.values.tolist() == [12.5, 1200.0, 30.0]
    assert h.get("growth rate").times.tolist() == [1.0, 2.0, 7.5]
    assert h.horizon == (1.0, 7.5)
    frame = h.frame
    assert list(frame.columns) == ["variable", "time", "value"] and len(frame) == 6


def test_dates_with_a_start_date_follow_the_model_time_unit(tmp_path, logistic):
    path = _write(tmp_path, "date,Population\n2024-01-08,11\n2024-01-22,13\n2024-02-05,20\n")
    h = read_history(logistic, path, start_date="2024-01-01")
    assert h.get("Population").times.tolist() == [1.0, 3.0, 5.0]  # a weekly model: 7 days a week
    assert h.start_date == dt.date(2024, 1, 1)
    with pytest.raises(CxError, match=r"h.csv: column 'date' holds dates; give the date"):
        read_history(logistic, path)
    with pytest.raises(CxError, match="is not a date"):
        read_history(logistic, path, start_date="01/01/2024")


def test_column_map_toml_renames_and_ignores(tmp_path, logistic):
    data = _write(tmp_path, "time,Headcount,Notes\n1,10,ok\n2,12,late\n")
    mapping = _write(tmp_path, '"headcount" = "Population"\n"Notes" = false\n', "map.toml")
    h = read_history(logistic, data, mapping=mapping)
    assert h.variables == ("Population",) and h.get("Population").column == "Headcount"
    bad = _write(tmp_path, '"Heads" = "Population"\n', "bad.toml")
    with pytest.raises(CxError, match=r"bad.toml: maps column 'Heads', which h.csv does not have"):
        read_history(logistic, data, mapping=bad)
    wrong = _write(tmp_path, '"Headcount" = "Popluation"\n"Notes" = false\n', "wrong.toml")
    with pytest.raises(CxError, match=r"wrong.toml: column 'Headcount': unknown variable 'Popluation'.*'Population'"):
        read_history(logistic, data, mapping=wrong)


def test_xlsx_reads_like_csv(tmp_path, logistic):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["date", "Population"])
    ws.append([dt.datetime(2024, 1, 8), 11.0])
    ws.append([dt.datetime(2024, 1, 15), None])
    ws.append([dt.datetime(2024, 1, 22), 14])
    book.save(tmp_path / "h.xlsx")
    h = read_history(logistic, tmp_path / "h.xlsx", start_date=dt.date(2024, 1, 1))
    s = h.get("Population")
    assert s.times.tolist() == [1.0, 3.0] and s.values.tolist() == [11.0, 14.0]
    ws.append([dt.datetime(2024, 1, 29), "n/a"])
    book.save(tmp_path / "h.xlsx")
    with pytest.raises(CxError, match=r"^h.xlsx, row 5, column 'Population': 'n/a' is not a number$"):
        read_history(logistic, tmp_path / "h.xlsx", start_date="2024-01-01")


@pytest.mark.parametrize("text, message", [
    ("time,Popultion\n1,2\n", r"^h.csv, row 1, column 'Popultion': unknown variable 'Popultion' in model logistic; "
                              r"closest: 'Population'"),
    ("time,Population\n1,2\n2,abc\n", r"^h.csv, row 3, column 'Population': 'abc' is not a number$"),
    ("time,Population\n1,2\n2,inf\n", r"^h.csv, row 3, column 'Population': 'inf' is not a finite number$"),
    ("time,Population\n1,2\n25,3\n", r"^h.csv, row 3, column 'time': 25 is outside the model's horizon \[0, 20\] Week$"),
    ("time,Population\n-1,2\n", r"^h.csv, row 2, column 'time': -1 is outside the model's horizon"),
    ("time,Population\n1,2\nx,3\n", r"^h.csv, row 3, column 'time': 'x' is not a number$"),
    ("time,Population\n1,2\n,3\n", r"^h.csv, row 3, column 'time': the time is empty$"),
    ("time,Population\n1,2\n1,3\n", r"^h.csv, row 3, column 'time': time 1 repeats row 2$"),
    ("Population\n1\n", r"^h.csv: needs a 'time' column"),
    ("time,Population\n1,\n2,\n", r"^h.csv: column 'Population' has no values$"),
    ("time,Population,population\n1,2,3\n", r"^h.csv: column 'population' appears twice"),
    ("", r"^h.csv: the file is empty"),
])
def test_bad_history_files_get_one_line_naming_file_row_and_column(tmp_path, logistic, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(CxError, match=message) as info:
        read_history(logistic, path)
    assert "\n" not in str(info.value)


def test_start_date_with_a_time_column_and_unknown_suffix_are_refused(tmp_path, logistic):
    path = _write(tmp_path, "time,Population\n1,2\n")
    with pytest.raises(CxError, match="a start date is given but the file has a time column"):
        read_history(logistic, path, start_date="2024-01-01")
    other = _write(tmp_path, "x", "h.json")
    with pytest.raises(CxError, match=r"unsupported history file '.json'"):
        read_history(logistic, other)
    with pytest.raises(CxError, match="no such history file"):
        read_history(logistic, tmp_path / "missing.csv")


def test_dataframe_input(logistic):
    import pandas as pd

    h = read_history(logistic, pd.DataFrame({"time": [1, 2, 4], "Population": [1.0, np.nan, 3.0]}))
    assert h.get("Population").times.tolist() == [1.0, 4.0]
