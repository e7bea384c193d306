"""Behaviour of the atomic-file reader: what it accepts, and how it names what it rejects."""

from pathlib import Path

import numpy as np
import pytest

from gru4recf.data.atomic_files import FIELD_TYPES, read_atomic, read_header
from gru4recf.errors import DataFormatError

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def write(tmp_path: Path, content: str | bytes, name: str = "case.inter") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def error_of(path: Path, **kwargs) -> str:
    with pytest.raises(DataFormatError) as caught:
        read_atomic(path, **kwargs)
    return str(caught.value)


def assert_names(message: str, *words: str) -> None:
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


# ---- rows -------------------------------------------------------------------------------------

def test_short_row_names_file_line_count_and_columns(tmp_path):
    path = write(tmp_path, HEADER + "1\t2\t3\t4\n" * 5 + "1\t2\t3\n")
    assert_names(error_of(path), "case.inter", "line 7 has 3 fields, expected 4",
                 "(user_id, item_id, rating, timestamp)", "'1\\t2\\t3'")


def test_long_row_is_rejected(tmp_path):
    path = write(tmp_path, HEADER + "1\t2\t3\t4\t5\n")
    assert_names(error_of(path), "case.inter", "line 2 has 5 fields, expected 4")


def test_first_bad_row_is_named_and_others_counted(tmp_path):
    path = write(tmp_path, HEADER + "1\t2\t3\t4\n1\t2\n1\n")
    assert_names(error_of(path), "line 3 has 2 fields", "1 more line(s)")


def test_comma_separated_file_hints_at_field_separator(tmp_path):
    path = write(tmp_path, "user_id:token,item_id:token,rating:float\n1,2,3\n")
    assert_names(error_of(path), "case.inter", "line 1", "field_separator", "'\\t'", "','")


def test_comma_separated_row_hints_at_field_separator(tmp_path):
    path = write(tmp_path, HEADER + "1,2,3,4\n")
    assert_names(error_of(path), "line 2 has 1 field,", "field_separator (currently '\\t')")


def test_space_separated_header_hints_at_field_separator(tmp_path):
    path = write(tmp_path, "user_id:token item_id:token\n1 2\n")
    assert_names(error_of(path), "line 1", "field_separator", "' '")


# ---- header -----------------------------------------------------------------------------------

def test_field_without_type_is_rejected(tmp_path):
    path = write(tmp_path, "item_id\tname:token\n1\ta\n")
    assert_names(error_of(path), "case.inter", "line 1", "'item_id'", "name:type", "token_seq")


def test_unknown_type_lists_allowed_types(tmp_path):
    path = write(tmp_path, "item_id:tokn\n1\n")
    assert_names(error_of(path), "case.inter", "line 1", "'item_id'", "'tokn'",
                 ", ".join(FIELD_TYPES))


def test_duplicate_column_is_rejected(tmp_path):
    path = write(tmp_path, "item_id:token\titem_id:float\n1\t2\n")
    assert_names(error_of(path), "case.inter", "line 1", "'item_id'", "twice")


def test_empty_file_is_rejected(tmp_path):
    path = write(tmp_path, "")
    assert_names(error_of(path), "case.inter", "file is empty")
    with pytest.raises(DataFormatError, match="file is empty"):
        read_header(path)


def test_empty_header_line_is_rejected(tmp_path):
    path = write(tmp_path, "\n" + HEADER + "1\t2\t3\t4\n")
    assert_names(error_of(path), "case.inter", "line 1", "header", "empty")


def test_header_only_file_is_rejected(tmp_path):
    path = write(tmp_path, HEADER + "\n\n")
    assert_names(error_of(path), "case.inter", "has a header but no rows")


def test_read_header_returns_types_in_order_and_checks_them(tmp_path):
    path = write(tmp_path, HEADER + "1\t2\t3\t4\n")
    assert list(read_header(path).items()) == [
        ("user_id", "token"), ("item_id", "token"), ("rating", "float"), ("timestamp", "float")]
    with pytest.raises(DataFormatError, match="'tokn'"):
        read_header(write(tmp_path, "a:tokn\n1\n", "bad.inter"))


# ---- floats -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["abc", "nan", "inf", "-inf", "NaN", " inf", "1e999", "1,5"])
def test_bad_float_names_line_field_and_value(tmp_path, value):
    path = write(tmp_path, HEADER + "1\t2\t3\t4\n\n1\t2\t" + value + "\t4\n")
    assert_names(error_of(path), "case.inter", "line 4", "'rating'", repr(value),
                 "finite number")


def test_empty_float_cell_is_rejected(tmp_path):
    path = write(tmp_path, HEADER + "1\t2\t3\t4\n1\t2\t3\t\n")
    assert_names(error_of(path), "case.inter", "line 3", "'timestamp'", "is empty")


def test_float_seq_element_must_be_finite(tmp_path):
    path = write(tmp_path, "item_id:token\tvec:float_seq\n1\t1 2\n2\t3 x 4\n", "case.item")
    assert_names(error_of(path), "case.item", "line 3", "'vec'", "'x'", "'3 x 4'")
    path = write(tmp_path, "item_id:token\tvec:float_seq\n1\tinf\n", "case.item")
    assert_names(error_of(path), "line 2", "'vec'", "'inf'")


def test_unselected_columns_are_not_converted(tmp_path):
    path = write(tmp_path, HEADER + "1\t2\tabc\t4\n")
    table = read_atomic(path, columns=["item_id"])
    assert table.frame["item_id"].tolist() == ["2"]


# ---- encoding ---------------------------------------------------------------------------------

def test_invalid_utf8_names_its_line(tmp_path):
    path = write(tmp_path, HEADER.encode() + b"1\t2\t3\t4\n\n1\t\xe9t\xe9\t3\t4\n")
    assert_names(error_of(path), "case.inter", "line 4", "not valid UTF-8", "0xe9")


def test_utf8_bom_and_non_ascii_tokens_are_accepted(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbf" + "item_id:token\tname:token\n1\tcaf\u00e9\n".encode())
    table = read_atomic(path)
    assert list(table.types) == ["item_id", "name"]
    assert table.frame["name"].tolist() == ["caf\u00e9"]
    assert list(read_header(path)) == ["item_id", "name"]


# ---- accepted layouts -------------------------------------------------------------------------

def test_crlf_and_missing_final_newline_are_accepted(tmp_path):
    path = write(tmp_path, HEADER.replace("\n", "\r\n") + "1\t2\t3\t4\r\n5\t6\t7.5\t8")
    table = read_atomic(path)
    assert table.frame["user_id"].tolist() == ["1", "5"]
    assert table.frame["rating"].tolist() == [3.0, 7.5]
    assert table.line_numbers.tolist() == [2, 3]


def test_blank_lines_are_skipped_but_counted(tmp_path):
    path = write(tmp_path, HEADER + "\n1\t2\t3\t4\n\n\r\n5\t6\t7\t8\n\n9\t9\n")
    assert_names(error_of(path), "line 8 has 2 fields")
    path = write(tmp_path, HEADER + "\n1\t2\t3\t4\n\n\r\n5\t6\t7\t8\n\n")
    table = read_atomic(path)
    assert table.line_numbers.tolist() == [3, 6]
    assert table.line_numbers.dtype == np.int64
    assert table.frame["item_id"].tolist() == ["2", "6"]


def test_cells_are_taken_literally(tmp_path):
    path = write(tmp_path, 'item_id:token\tname:token\n"1\t#a "b\n2\t\n')
    frame = read_atomic(path).frame
    assert frame["item_id"].tolist() == ['"1', "2"]
    assert frame["name"].tolist() == ['#a "b', ""]
    assert frame["item_id"].dtype == object


def test_sequences_split_on_seq_separator(tmp_path):
    content = "item_id:token\ttags:token_seq\tvec:float_seq\n1\ta b\t1 2.5\n2\t\t\n3\tc\t-3\n"
    frame = read_atomic(write(tmp_path, content, "case.item")).frame
    assert frame["tags"].tolist() == [["a", "b"], [], ["c"]]
    vectors = frame["vec"].tolist()
    assert [v.tolist() for v in vectors] == [[1.0, 2.5], [], [-3.0]]
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float64 for v in vectors)


def test_custom_separators(tmp_path):
    path = write(tmp_path, "item_id:token,tags:token_seq\n1,a|b\n")
    frame = read_atomic(path, field_separator=",", seq_separator="|").frame
    assert frame["tags"].tolist() == [["a", "b"]]


def test_field_separator_must_be_one_character(tmp_path):
    path = write(tmp_path, HEADER + "1\t2\t3\t4\n")
    assert_names(error_of(path, field_separator="::"), "field_separator", "'::'")


def test_column_selection_keeps_file_order(tmp_path):
    table = read_atomic(write(tmp_path, HEADER + "1\t2\t3\t4\n"), columns=["rating", "user_id"])
    assert list(table.frame.columns) == ["user_id", "rating"]
    assert table.types == {"user_id": "token", "rating": "float"}


def test_missing_requested_column_lists_the_file_columns(tmp_path):
    path = write(tmp_path, HEADER + "1\t2\t3\t4\n")
    assert_names(error_of(path, columns=["user_id", "label"]), "case.inter", "'label'",
                 "user_id, item_id, rating, timestamp")


# ---- real data --------------------------------------------------------------------------------

@pytest.mark.skipif(not DATASETS.exists(), reason="shared/datasets is not beside the repository")
def test_reads_movielens_100k():
    items = read_atomic(DATASETS / "ml-100k" / "ml-100k.item")
    assert len(items.frame) == 1682
    assert items.types == {"item_id": "token", "movie_title": "token_seq",
                           "release_year": "token", "class": "token_seq"}
    first = items.frame[items.frame["item_id"] == "1"].iloc[0]
    assert first["class"] == ["Animation", "Children's", "Comedy"]
    inters = read_atomic(DATASETS / "ml-100k" / "ml-100k.inter")
    assert len(inters.frame) == 100000
    assert inters.types == {"user_id": "token", "item_id": "token", "rating": "float",
                            "timestamp": "float"}
    assert inters.frame["rating"].dtype == np.float64
    assert inters.line_numbers[0] == 2 and inters.line_numbers[-1] == 100001
