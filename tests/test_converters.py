"""The session dataset converters: each raw format, written here in miniature, becomes the atomic files
the module docstrings promise (sessions cut, repeats dropped, filters applied in their order, item
features), and a malformed raw row is an error naming the file and line. Expected files are written
out by hand below, never computed by the converters."""
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gru4recf.cli import main
from gru4recf.data.atomic_files import read_atomic
from gru4recf.data.convert import convert, raw_files
from gru4recf.data.convert import diginetica, rees46, retailrocket, yoochoose
from gru4recf.data.convert.raw_csv import RawFormat, read_all, read_raw
from gru4recf.data.convert.sessions import Protocol
from gru4recf.errors import ConfigError, DataFormatError, DatasetError

LENIENT = Protocol("test", drop_repeats=True, until_stable=True, min_item_support=1)  # features and times in focus


def unix(text: str) -> float:
    """UTC 'YYYY-mm-dd HH:MM:SS[.fff]' as unix seconds, by the standard library."""
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp()


def write(folder: Path, name: str, lines) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def rows(path: Path) -> list:
    """The file's header line and its data lines split into cells, as text."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [lines[0]] + [line.split("\t") for line in lines[1:]]


# ---- YOOCHOOSE: the filters and their order ----------------------------------------------------

A, B, C, D = "10", "20", "30", "40"
T = "2014-04-01T10:"  # sessions start 100 s apart from 10:01:40

# (session, minute:second within 10:xx, item, category), in file order: s2 comes before s1
CLICKS = [
    (2, "03:20.000", A, "0"), (2, "03:30.000", B, "7"),
    (1, "01:40.500", A, "0"), (1, "01:45.000", A, "3"), (1, "01:50.000", B, "0"),
    (3, "05:00.250", A, "0"), (3, "05:00.250", B, "0"),  # a timestamp tie: file order kept
    (4, "06:40.000", A, "0"), (4, "06:50.000", B, "0"),
    (5, "08:20.000", A, "0"), (5, "08:30.000", B, "0"), (5, "08:40.000", D, "0"),
    (6, "10:00.000", D, "0"), (6, "10:10.000", C, "0"),
    (7, "11:40.000", D, "0"), (7, "11:50.000", A, "0"),
    (8, "13:20.000", D, "0"), (8, "13:30.000", B, "0"),
    (9, "15:00.000", D, "0"), (9, "15:10.000", A, "0"),
    (10, "16:40.000", A, "0"),
]


def clicks_file(folder: Path, clicks=CLICKS, name="yoochoose-clicks.dat") -> Path:
    return write(folder, name, [f"{s},{T}{t}Z,{item},{cat}" for s, t, item, cat in clicks])


def at(minute_second: str) -> str:
    return f"{unix('2014-04-01 10:' + minute_second):.3f}"


def test_yoochoose_hidasi2023_drops_repeats_and_filters_until_nothing_changes(tmp_path):
    # pass 1: session 10 (one click) goes, then item C (1 event); pass 2: session 6 is [D] and goes,
    # so D has 4 events and goes; pass 3: sessions 7, 8, 9 are single clicks and go; A and B keep 5
    folder = convert("yoochoose", clicks_file(tmp_path / "raw"), tmp_path / "out")
    assert folder == tmp_path / "out" / "yoochoose"
    assert rows(folder / "yoochoose.inter") == [
        "session_id:token\titem_id:token\ttimestamp:float",
        ["1", A, at("01:40.500")], ["1", B, at("01:50.000")],  # session 1 first (it starts first); A A -> A
        ["2", A, at("03:20.000")], ["2", B, at("03:30.000")],
        ["3", A, at("05:00.250")], ["3", B, at("05:00.250")],
        ["4", A, at("06:40.000")], ["4", B, at("06:50.000")],
        ["5", A, at("08:20.000")], ["5", B, at("08:30.000")],
    ]
    # A's only category other than 0 is 3; B's is 7 (its later click says 0)
    assert rows(folder / "yoochoose.item") == ["item_id:token\tcategory:token", [A, "3"], [B, "7"]]


def test_yoochoose_gru4rec2016_filters_once_each_and_keeps_repeats(tmp_path):
    # sessions of length 1 go (10), then items under 5 events (C: 1; A has 8, B 6, D 5), then
    # sessions under 2 (6 is [D]); D's support falls to 4 but there is no second pass
    folder = convert("yoochoose", clicks_file(tmp_path / "raw"), tmp_path / "out", protocol="gru4rec2016")
    sessions = [row[0] for row in rows(folder / "yoochoose.inter")[1:]]
    assert sessions == ["1"] * 3 + ["2"] * 2 + ["3"] * 2 + ["4"] * 2 + ["5"] * 3 + ["7", "7", "8", "8", "9", "9"]
    assert rows(folder / "yoochoose.inter")[1:4] == [["1", A, at("01:40.500")], ["1", A, at("01:45.000")],
                                                      ["1", B, at("01:50.000")]]
    assert rows(folder / "yoochoose.item") == ["item_id:token\tcategory:token", [A, "3"], [B, "7"]]


def test_yoochoose_reads_the_challenge_test_file_under_hidasi2023_only(tmp_path):
    raw = clicks_file(tmp_path / "raw")
    clicks_file(raw, [(11, "20:00.000", A, "0"), (11, "20:05.000", B, "0")], name="yoochoose-test.dat")
    with_test = rows(convert("yoochoose", raw, tmp_path / "a") / "yoochoose.inter")
    assert with_test[-2:] == [["11", A, at("20:00.000")], ["11", B, at("20:05.000")]]
    without = rows(convert("yoochoose", raw, tmp_path / "b", protocol="gru4rec2016") / "yoochoose.inter")
    assert "11" not in [row[0] for row in without[1:]]


@pytest.mark.parametrize("line, problem", [
    ("3,2014-04-01T10:05:00.250Z,10", "line 3 has 3 field(s), expected 4 (SessionId,Timestamp,ItemId,Category)"),
    ("3,04/01/2014 10:05,10,0", "line 3, column 'Timestamp': value '04/01/2014 10:05' is not a time such as "
                                "'2014-04-07T10:51:09.277Z'"),
    ("3,2014-04-01T10:05:00.250Z,x10,0", "line 3, column 'ItemId': value 'x10' is not an integer"),
])
def test_a_malformed_yoochoose_line_names_file_line_and_expectation(tmp_path, line, problem):
    raw = write(tmp_path / "raw", "yoochoose-clicks.dat",
                ["1,2014-04-01T10:01:40.500Z,10,0", "1,2014-04-01T10:01:45.000Z,20,0", line])
    with pytest.raises(DataFormatError) as error:
        convert("yoochoose", raw, tmp_path / "out")
    assert str(error.value).startswith(f"{raw / 'yoochoose-clicks.dat'}: {problem}")
    assert not (tmp_path / "out" / "yoochoose" / "yoochoose.inter").exists()


def test_crlf_line_ends_a_bom_and_no_final_newline_are_read(tmp_path):
    (tmp_path / "events.csv").write_bytes(b"\xef\xbb\xbf" + EVENTS_HEADER.encode() + b"\r\n1000,7,view,11,\r\n"
                                          b"2000,7,transaction,11,55")
    frame = read_all(tmp_path / "events.csv", retailrocket.EVENTS)
    assert frame.to_dict("list") == {"timestamp": [1000, 2000], "visitorid": [7, 7], "event": ["view", "transaction"],
                                     "itemid": [11, 11]}


def test_line_numbers_count_across_blocks_and_blank_lines(tmp_path):
    lines = [f"{n},2014-04-01T10:00:00.000Z,{n},0" for n in range(1, 40)]
    lines[9] = ""
    lines[30] = "31,2014-04-01T10:00:00.000Z,oops,0"
    write(tmp_path, "clicks.dat", lines)
    with pytest.raises(DataFormatError, match=r"clicks.dat: line 31, column 'ItemId': value 'oops'"):
        list(read_raw(tmp_path / "clicks.dat", yoochoose.CLICKS, block_bytes=100))  # ~3 lines per block
    lines[30] = "31,2014-04-01T10:00:00.000Z,31,0"
    write(tmp_path, "clicks.dat", lines)
    blocks = list(read_raw(tmp_path / "clicks.dat", yoochoose.CLICKS, with_lines=True, block_bytes=100))
    assert sum(map(len, blocks)) == 38 and blocks[-1]["line"].iloc[-1] == 39
    assert [int(b) for block in blocks for b in block["ItemId"]] == [n for n in range(1, 40) if n != 10]


# ---- DIGINETICA: times from the day and timeframe, three feature files ---------------------------

VIEWS_HEADER = "sessionId;userId;itemId;timeframe;eventdate"


def diginetica_raw(folder: Path, products=None) -> Path:
    write(folder, "train-item-views.csv", [
        VIEWS_HEADER,
        "1;;1;0;2016-05-10",
        "1;;2;1500;2016-05-10",
        "1;;2;2500;2016-05-10",  # a repeat of item 2: dropped
        "2;17;3;90000000;2016-05-10",  # a session over midnight: its day is its earliest, 2016-05-09
        "2;17;1;86400500;2016-05-09",
        "3;;2;10;2016-05-11",  # a single view: the session goes
    ])
    write(folder, "products.csv", products or [
        "itemId;pricelog2;product.name.tokens", "1;8;4,11,4", "2;10.5;7", "3;;", "4;3;9"])
    write(folder, "product-categories.csv", ["itemId;categoryId", "1;101", "2;102", "3;103", "4;104"])
    return folder


def test_diginetica_times_sessions_and_item_features(tmp_path):
    folder = diginetica.convert(diginetica_raw(tmp_path / "raw"), tmp_path / "out", LENIENT)
    day9, day10 = unix("2016-05-09 00:00:00"), unix("2016-05-10 00:00:00")
    assert rows(folder / "diginetica.inter") == [
        "session_id:token\titem_id:token\ttimestamp:float",
        ["1", "1", f"{day10:.3f}"], ["1", "2", f"{day10 + 1.5:.3f}"],
        ["2", "1", f"{day9 + 86400.5:.3f}"], ["2", "3", f"{day9 + 90000:.3f}"],  # starts 0.5 s after session 1
    ]
    # item 3 has neither a price nor name tokens: price 0, no tokens; item 4 is in no session
    assert rows(folder / "diginetica.item") == [
        "item_id:token\tcategory:token\tname:token_seq\tprice:float",
        ["1", "101", "4 11 4", "8.0"], ["2", "102", "7", "10.5"], ["3", "103", "", "0.0"]]
    write(tmp_path / "raw", "products.csv", ["itemId;pricelog2;product.name.tokens", "1;8;4,11,4", "2;10.5;7"])
    folder = diginetica.convert(tmp_path / "raw", tmp_path / "out", LENIENT)  # item 3 without a products.csv row
    assert rows(folder / "diginetica.item")[-1] == ["3", "103", "", "0.0"]


def test_diginetica_refuses_a_second_row_for_an_item_and_a_wrong_header(tmp_path):
    raw = diginetica_raw(tmp_path / "raw", ["itemId;pricelog2;product.name.tokens", "1;8;4", "", "2;9;5", "1;7;3"])
    with pytest.raises(DataFormatError, match=r"products.csv: item 1 has two rows \(lines 2 and 5\)"):
        diginetica.convert(raw, tmp_path / "out", LENIENT)
    write(raw, "train-item-views.csv", ["sessionId,userId,itemId,timeframe,eventdate", "1,,1,0,2016-05-10"])
    with pytest.raises(DataFormatError, match=r"train-item-views.csv: line 1 \(the header\) is "
                                              r"'sessionId,userId,itemId,timeframe,eventdate'; expected "
                                              r"'sessionId;userId;itemId;timeframe;eventdate'"):
        diginetica.convert(raw, tmp_path / "out", LENIENT)


def test_a_malformed_diginetica_view_names_file_and_line(tmp_path):
    raw = diginetica_raw(tmp_path / "raw")
    write(raw, "train-item-views.csv", [VIEWS_HEADER, "1;;1;0;2016-05-10", "1;;2;15x;2016-05-10"])
    with pytest.raises(DataFormatError, match=r"train-item-views.csv: line 3, column 'timeframe': value '15x'"):
        diginetica.convert(raw, tmp_path / "out", LENIENT)


# ---- RetailRocket: sessions cut over all event types, views kept ---------------------------------

BASE_MS = 1433000000117
EVENTS_HEADER = "timestamp,visitorid,event,itemid,transactionid"


def ms(seconds: float) -> int:
    return BASE_MS + int(seconds * 1000)


def retailrocket_raw(folder: Path) -> Path:
    write(folder, "events.csv", [
        EVENTS_HEADER,
        f"{ms(6000)},7,view,22,",  # the file is not in time order
        f"{ms(0)},7,view,11,",
        f"{ms(3000)},7,addtocart,11,",  # bridges the views at 0 and 6000 s: one session
        f"{ms(9601)},7,view,33,",  # 3601 s after the last event: a new session
        f"{ms(10000)},7,view,11,",
        f"{ms(500)},8,view,22,",
        f"{ms(4100)},8,view,33,",  # exactly 3600 s later: the same session
        f"{ms(4200)},8,transaction,33,55",
        f"{ms(100)},9,view,11,",  # a single view: the session goes
    ])
    write(folder, "item_properties_part1.csv", [
        "timestamp,itemid,property,value",
        "2000,11,categoryid,6", "1000,11,categoryid,5", "1500,11,available,1",
        "1000,33,categoryid,3", "1000,22,790,n552.000 639502 n720.000"])
    write(folder, "item_properties_part2.csv", [
        "timestamp,itemid,property,value", "1000,22,categoryid,9", "500,22,categoryid,8", "1000,33,categoryid,4"])
    return folder


def test_retailrocket_sessions_per_visitor_and_latest_category(tmp_path):
    folder = retailrocket.convert(retailrocket_raw(tmp_path / "raw"), tmp_path / "out", LENIENT)

    def t(seconds):
        return f"{(BASE_MS + seconds * 1000) / 1000:.3f}"

    assert rows(folder / "retailrocket.inter") == [
        "session_id:token\tuser_id:token\titem_id:token\ttimestamp:float",
        ["1", "7", "11", t(0)], ["1", "7", "22", t(6000)],
        ["2", "8", "22", t(500)], ["2", "8", "33", t(4100)],
        ["3", "7", "33", t(9601)], ["3", "7", "11", t(10000)],
    ]
    # 11: the later timestamp wins (6 over 5); 22: 9 (time 1000) over 8 (time 500, later line);
    # 33: a tie at time 1000, part2's 4 over part1's 3
    assert rows(folder / "retailrocket.item") == ["item_id:token\tcategory:token", ["11", "6"], ["22", "9"],
                                                  ["33", "4"]]


def test_a_malformed_retailrocket_event_names_file_and_line(tmp_path):
    raw = retailrocket_raw(tmp_path / "raw")
    write(raw, "events.csv", [EVENTS_HEADER, f"{ms(0)},7,view,11,", f"{ms(1)},seven,view,11,"])
    with pytest.raises(DataFormatError, match=r"events.csv: line 3, column 'visitorid': value 'seven' is not an "
                                              r"integer"):
        retailrocket.convert(raw, tmp_path / "out", LENIENT)
    write(raw, "events.csv", [EVENTS_HEADER, f"{ms(0)},7,view,11"])
    with pytest.raises(DataFormatError, match=r"events.csv: line 2 has 4 field\(s\), expected 5"):
        retailrocket.convert(raw, tmp_path / "out", LENIENT)


# ---- REES46: views only, cut at 1 hour without a view, features from the latest event ------------

REES_HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"


def rees46_raw(folder: Path) -> Path:
    write(folder, "2019-Nov.csv", [
        REES_HEADER,
        "2019-11-01 00:20:00 UTC,cart,1,100,,acme,9.99,1,s-a",  # not a view: does not bridge the gap
        "2019-11-01 00:31:00 UTC,view,2,200,electronics.smartphone,,210.25,1,s-a",  # 61 min after the last view
        "2019-11-01 01:31:00 UTC,view,3,300,,x,,1,s-b",  # exactly 60 min later: same session; no price
    ])
    write(folder, "2019-Oct.csv", [
        REES_HEADER,
        "2019-10-15 10:00:00 UTC,view,2,200,electronics.smartphone,,200.0,2,s-c",
        "2019-10-15 10:01:00 UTC,view,2,200,electronics.smartphone,,200.0,2,s-c",  # a repeat: dropped
        "2019-10-15 10:02:00 UTC,view,1,100,,acme,10.5,2,s-c",
        "2019-10-31 23:30:00 UTC,view,1,100,,acme,10.5,1,s-a",  # user 1's first session: one view, goes
    ])
    write(folder, "notes.csv", ["not a month file"])
    return folder


def test_rees46_view_sessions_and_latest_item_features(tmp_path):
    folder = rees46.convert(rees46_raw(tmp_path / "raw"), tmp_path / "out", LENIENT)
    assert rows(folder / "rees46.inter") == [
        "session_id:token\tuser_id:token\titem_id:token\ttimestamp:float",
        ["1", "2", "2", f"{unix('2019-10-15 10:00:00'):.0f}"], ["1", "2", "1", f"{unix('2019-10-15 10:02:00'):.0f}"],
        ["2", "1", "2", f"{unix('2019-11-01 00:31:00'):.0f}"], ["2", "1", "3", f"{unix('2019-11-01 01:31:00'):.0f}"],
    ]
    assert rows(folder / "rees46.item") == [
        "item_id:token\tcategory_id:token\tcategory_code:token\tbrand:token\tprice:float",
        ["1", "100", "", "acme", "9.99"],  # the cart event of Nov 1 is its latest
        ["2", "200", "electronics.smartphone", "", "210.25"], ["3", "300", "", "x", "0.0"]]  # empty price: 0


def test_a_malformed_rees46_event_names_file_and_line(tmp_path):
    raw = rees46_raw(tmp_path / "raw")
    write(raw, "2019-Oct.csv", [REES_HEADER, "2019-10-15T10:00:00Z,view,2,200,,,200.0,2,s"])
    with pytest.raises(DataFormatError, match=r"2019-Oct.csv: line 2, column 'event_time': value "
                                              r"'2019-10-15T10:00:00Z' is not a time such as '2019-10-01 00:00:00 UTC'"):
        rees46.convert(raw, tmp_path / "out", LENIENT)


def test_rees46_needs_a_month_file(tmp_path):
    with pytest.raises(DatasetError, match="no REES46 month file"):
        convert("rees46", write(tmp_path / "raw", "other.csv", ["x"]), tmp_path / "out")


# ---- the entry points -----------------------------------------------------------------------------

def test_unknown_names_and_missing_files_are_errors_that_say_what_exists(tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset 'rsc15' to convert; expected one of yoochoose, "
                                          "diginetica, retailrocket, rees46"):
        convert("rsc15", tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="unknown protocol 'x'; expected one of hidasi2023, gru4rec2016"):
        convert("yoochoose", tmp_path, tmp_path, protocol="x")
    with pytest.raises(DatasetError, match=r"raw file .*events.csv is missing"):
        convert("retailrocket", tmp_path, tmp_path)
    assert raw_files("diginetica") == ("train-item-views.csv", "products.csv", "product-categories.csv")


def test_the_command_converts_and_a_malformed_row_is_one_line_with_status_2(tmp_path, capsys):
    raw = clicks_file(tmp_path / "raw")
    assert main(["convert", "yoochoose", f"--raw={raw}", f"--data_path={tmp_path / 'out'}"]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'out' / 'yoochoose'} (10 interactions; protocol hidasi2023)\n"
    write(raw, "yoochoose-clicks.dat", ["1,2014-04-01T10:01:40.500Z,10,0", "1,2014-04-01T10:01:40.500Z,10"])
    assert main(["convert", "yoochoose", "--raw", str(raw), "--data_path", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"gru4recf: error: {raw / 'yoochoose-clicks.dat'}: line 2 has 3")


def test_the_command_lists_the_datasets_and_refuses_an_unknown_one(capsys):
    assert main(["convert", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("yoochoose", "diginetica", "retailrocket", "rees46", "--protocol"))
    assert main(["convert", "movielens", "--raw=x", "--data_path=y"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'movielens'" in err


def test_a_converted_dataset_reads_back_as_atomic_files(tmp_path):
    folder = convert("yoochoose", clicks_file(tmp_path / "raw"), tmp_path / "out")
    table = read_atomic(folder / "yoochoose.inter")
    assert table.types == {"session_id": "token", "item_id": "token", "timestamp": "float"}
    assert table.frame["timestamp"].iloc[0] == pytest.approx(unix("2014-04-01 10:01:40.500"), abs=1e-6)


def test_raw_format_header_is_the_columns_joined():
    assert RawFormat(";", ("a", "b"), header=True).header_line == "a;b"


def test_the_fast_number_writer_matches_pandas_formatting(tmp_path):
    from gru4recf.data.convert.writing import write_dataset
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"session_id": np.r_[0, rng.integers(0, 10**12, 999)],
                          "timestamp": np.r_[0.005, rng.integers(0, 2 * 10**12, 999) / 1000]})
    types = {"session_id": "token", "timestamp": "float"}
    write_dataset(tmp_path, "x", frame, types)
    expected = frame.to_csv(sep="\t", header=False, index=False, lineterminator="\n", float_format="%.3f")
    assert (tmp_path / "x.inter").read_text() == "session_id:token\ttimestamp:float\n" + expected
    write_dataset(tmp_path, "y", frame.assign(timestamp=np.floor(frame["timestamp"])), types)  # whole seconds
    assert (tmp_path / "y.inter").read_text().splitlines()[1:3] == ["0\t0", f"{frame.session_id[1]}\t"
                                                                     f"{int(frame.timestamp[1])}"]


def test_a_price_that_is_not_a_number_names_file_line_and_column(tmp_path):
    raw = rees46_raw(tmp_path / "raw")
    write(raw, "2019-Oct.csv", [REES_HEADER, "2019-10-15 10:00:00 UTC,view,2,200,,,200.0,2,s",
                                "2019-10-15 10:00:01 UTC,view,3,200,,,nan,2,s"])
    with pytest.raises(DataFormatError, match=r"2019-Oct.csv: line 3, column 'price': value 'nan' is not a finite"):
        rees46.convert(raw, tmp_path / "out", LENIENT)


def test_files_without_rows_or_views_are_errors_that_say_so(tmp_path):
    raw = diginetica_raw(tmp_path / "dg")
    write(raw, "train-item-views.csv", [VIEWS_HEADER])
    with pytest.raises(DatasetError, match=r"train-item-views.csv has no rows; expected lines 'sessionId;userId"):
        diginetica.convert(raw, tmp_path / "out", LENIENT)
    raw = write(tmp_path / "yc", "yoochoose-clicks.dat", [""])
    with pytest.raises(DatasetError, match=r"yoochoose-clicks.dat has no rows"):
        convert("yoochoose", raw, tmp_path / "out")
    raw = write(tmp_path / "rr", "events.csv", [EVENTS_HEADER])
    with pytest.raises(DatasetError, match=r"events.csv has no rows"):
        convert("retailrocket", raw, tmp_path / "out")
    raw = write(tmp_path / "rees", "2019-Oct.csv", [REES_HEADER, "2019-10-15 10:00:00 UTC,cart,2,200,,,1.5,2,s"])
    with pytest.raises(DatasetError, match=r"the REES46 files in .* hold no view events"):
        convert("rees46", raw, tmp_path / "out")


def test_a_feature_with_a_tab_cannot_be_written_and_nothing_is(tmp_path):
    raw = rees46_raw(tmp_path / "raw")
    write(raw, "2019-Oct.csv", [REES_HEADER, "2019-10-15 10:00:00 UTC,view,4,200,,ac\tme,2.0,2,s",
                                "2019-10-15 10:00:01 UTC,view,1,200,,,2.0,2,s"])
    with pytest.raises(DataFormatError, match=r"rees46.item: column 'brand' holds a tab or line break \('ac\\tme'\)"):
        rees46.convert(raw, tmp_path / "out", LENIENT)
    assert not (tmp_path / "out" / "rees46" / "rees46.item").exists()
    assert not (tmp_path / "out" / "rees46" / "rees46.inter").exists()
