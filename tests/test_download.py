"""ensure_dataset: uses local files, downloads ml-100k once, converts it exactly as RecBole did,
and fails with a message that says where it looked, what it tried and how to fix it."""

import dataclasses
import errno
import hashlib
import io
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from gru4recf.data import download
from gru4recf.data.download import convert_ml100k, ensure_dataset
from gru4recf.errors import DatasetError, DownloadError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SHARED_SHA256 = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
}
GENRE_ORDER = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
               "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
               "Romance", "Sci-Fi", "Thriller", "War", "Western"]


# ----- raw GroupLens files, built by hand or from atomic rows ---------------------------------

def flags(*genres):
    return "|".join("1" if genre in genres else "0" for genre in GENRE_ORDER)


SMALL_RAW = {
    "u.data": "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n",
    "u.item": "\n".join([
        "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|"
        + flags("Animation", "Children's", "Comedy"),
        "6|Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)|01-Jan-1995||http://x|"
        + flags("Drama"),
        "267|unknown||||" + flags("unknown"),
        "1412|Land Before Time III: The Time of the Great Giving (1995) (V)|01-Jan-1995||http://x|"
        + flags("Animation", "Children's"),
        "1633|\u00c1 k\u00f6ldum klaka (Cold Fever) (1994)|08-Mar-1996||http://x|"
        + flags("Comedy", "Drama"),
    ]) + "\n",
    "u.user": "8|36|M|administrator|05201\n74|39|M|scientist|T8H1N\n",
}
SMALL_ATOMIC = {
    "ml-100k.inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                     "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n",
    "ml-100k.item": "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                    "1\tToy Story\t1995\tAnimation Children's Comedy\n"
                    "6\tShanghai Triad (Yao a yao yao dao waipo qiao)\t1995\tDrama\n"
                    "267\tunkonwn\tunkonwn\tunknown\n"
                    "1412\tLand Before Time III: The Time of the Great Giving (1995)\tV\t"
                    "Animation Children's\n"
                    "1633\t\u00c1 k\u00f6ldum klaka (Cold Fever)\t1994\tComedy Drama\n",
    "ml-100k.user": "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
                    "8\t36\tM\tadministrator\t05201\n74\t39\tM\tscientist\tT8H1N\n",
}


def make_zip(raw_files):
    """A GroupLens-like archive: {'u.data': text, ...} under ml-100k/, u.item in Latin-1."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ml-100k/README", "MovieLens 100k (test copy)\n")
        for member, text in raw_files.items():
            archive.writestr(f"ml-100k/{member}", text.encode("latin-1"))
    return buffer.getvalue()


def atomic_to_raw(folder):
    """Turn RecBole atomic files back into GroupLens raw text (the inverse of the converter).

    A title gets its year back as ` (year)`; the release date, which the converter ignores, is
    made up as 01-Jan-<year> when the year is a number. RecBole's `unkonwn` title/year pair
    (item 267) becomes GroupLens's `unknown` title with empty date and URL.
    """
    def rows(kind):
        lines = (folder / f"ml-100k.{kind}").read_text(encoding="utf-8").splitlines()
        return [line.split("\t") for line in lines[1:]]

    items = []
    for item_id, title, year, genres in rows("item"):
        if year == "unkonwn":
            raw_title, date, url = ("unknown" if title == "unkonwn" else title), "", ""
        else:
            raw_title = f"{title} ({year})"
            date = f"01-Jan-{year}" if year.isdigit() else ""
            url = "http://us.imdb.com/M/title-exact?" + raw_title.replace(" ", "%20")
        items.append(f"{item_id}|{raw_title}|{date}||{url}|{flags(*genres.split())}")
    return {
        "u.data": "".join("\t".join(row) + "\n" for row in rows("inter")),
        "u.item": "\n".join(items) + "\n",
        "u.user": "".join("|".join(row) + "\n" for row in rows("user")),
    }


# ----- conversion -------------------------------------------------------------------------

def test_converter_follows_recbole_rules_on_a_small_archive():
    with zipfile.ZipFile(io.BytesIO(make_zip(SMALL_RAW))) as archive:
        files = convert_ml100k(archive)
    assert {name: data.decode("utf-8") for name, data in files.items()} == SMALL_ATOMIC


@pytest.mark.skipif(not SHARED.exists(), reason="shared datasets folder not present")
def test_round_trip_of_real_ml100k_reproduces_recbole_files_byte_for_byte():
    raw = atomic_to_raw(SHARED / "ml-100k")
    with zipfile.ZipFile(io.BytesIO(make_zip(raw))) as archive:
        files = convert_ml100k(archive)
    assert {name: hashlib.sha256(data).hexdigest() for name, data in files.items()} == SHARED_SHA256


# ----- download ---------------------------------------------------------------------------

@pytest.fixture
def server():
    """A local HTTP server: /ml-100k.zip serves `state.payload`; other paths answer 404."""
    state = SimpleNamespace(payload=make_zip(SMALL_RAW), requests=[])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state.requests.append(self.path)
            if self.path != "/ml-100k.zip":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(state.payload)))
            self.end_headers()
            self.wfile.write(state.payload)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield SimpleNamespace(url=f"{base}/ml-100k.zip", base=base, state=state)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def expect_md5_of(monkeypatch, payload):
    """Make the registry expect the test archive instead of the real GroupLens one."""
    source = dataclasses.replace(download.SOURCES["ml-100k"], md5=hashlib.md5(payload).hexdigest())
    monkeypatch.setitem(download.SOURCES, "ml-100k", source)


def test_download_writes_the_atomic_files_and_returns_the_folder(tmp_path, server, monkeypatch):
    expect_md5_of(monkeypatch, server.state.payload)
    folder = ensure_dataset("ml-100k", tmp_path, url=server.url, timeout=5, show_progress=True)
    assert folder == tmp_path / "ml-100k"
    assert sorted(p.name for p in folder.iterdir()) == sorted(SMALL_ATOMIC)
    for name, text in SMALL_ATOMIC.items():
        assert (folder / name).read_bytes() == text.encode("utf-8")
    assert server.state.requests == ["/ml-100k.zip"]


def test_existing_dataset_is_used_without_any_request(tmp_path, server):
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "ml-100k.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    assert ensure_dataset("ml-100k", str(tmp_path), url=server.url) == folder
    assert server.state.requests == []
    assert (folder / "ml-100k.inter").read_text() == "user_id:token\titem_id:token\n1\t2\n"


def test_checksum_mismatch_raises_and_leaves_no_files(tmp_path, server):
    with pytest.raises(DownloadError) as caught:
        ensure_dataset("ml-100k", tmp_path, url=server.url, timeout=5)
    message = str(caught.value)
    assert "0e33842e24a9c977be4e0107933c0723" in message  # expected
    assert hashlib.md5(server.state.payload).hexdigest() in message  # got
    assert server.url in message
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_names_folder_url_and_manual_fix(tmp_path):
    with socket.socket() as probe:  # a port that nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ml-100k.zip"
    with pytest.raises(DownloadError) as caught:
        ensure_dataset("ml-100k", tmp_path / "data", url=url, timeout=5)
    message = str(caught.value)
    assert str((tmp_path / "data" / "ml-100k").absolute()) in message
    assert "ml-100k.inter" in message and "ml-100k.item" in message
    assert url in message
    assert "refused" in message.lower()
    assert "data_path" in message and "GRU4RECF_DATA_PATH" in message
    assert not (tmp_path / "data").exists()


def test_silent_server_times_out_with_a_download_error(tmp_path):
    with socket.socket() as silent:  # accepts connections in the kernel, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/ml-100k.zip"
        with pytest.raises(DownloadError, match="timed out|timeout") as caught:
            ensure_dataset("ml-100k", tmp_path, url=url, timeout=0.2)
    assert url in str(caught.value)


def test_http_error_status_is_reported(tmp_path, server):
    url = f"{server.base}/moved.zip"
    with pytest.raises(DownloadError, match="HTTP 404") as caught:
        ensure_dataset("ml-100k", tmp_path, url=url, timeout=5)
    assert url in str(caught.value)


def test_archive_that_is_not_a_zip_is_a_download_error(tmp_path, server, monkeypatch):
    server.state.payload = b"<html>captive portal</html>"
    expect_md5_of(monkeypatch, server.state.payload)
    with pytest.raises(DownloadError, match="could not be converted.*not a zip"):
        ensure_dataset("ml-100k", tmp_path, url=server.url, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_malformed_raw_file_names_member_and_line(tmp_path, server, monkeypatch):
    broken = dict(SMALL_RAW, **{"u.item": SMALL_RAW["u.item"].replace("|0|0|0|1|", "|0|0|0|x|", 1)})
    server.state.payload = make_zip(broken)
    expect_md5_of(monkeypatch, server.state.payload)
    with pytest.raises(DownloadError, match=r"ml-100k/u\.item line 1: genre flags") as caught:
        ensure_dataset("ml-100k", tmp_path, url=server.url, timeout=5)
    assert server.url in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_inter_so_the_next_call_downloads_again(
        tmp_path, server, monkeypatch):
    expect_md5_of(monkeypatch, server.state.payload)
    real_write = download.atomic_write_bytes
    written = []

    def disk_full_after_first(path, data):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(path)
        real_write(path, data)

    monkeypatch.setattr(download, "atomic_write_bytes", disk_full_after_first)
    with pytest.raises(OSError):
        ensure_dataset("ml-100k", tmp_path, url=server.url, timeout=5)
    assert not (tmp_path / "ml-100k" / "ml-100k.inter").exists()
    monkeypatch.setattr(download, "atomic_write_bytes", real_write)
    folder = ensure_dataset("ml-100k", tmp_path, url=server.url, timeout=5)
    assert (folder / "ml-100k.inter").read_bytes() == SMALL_ATOMIC["ml-100k.inter"].encode()
    assert len(server.state.requests) == 2


def test_unknown_absent_dataset_is_a_dataset_error(tmp_path, server):
    with pytest.raises(DatasetError) as caught:
        ensure_dataset("my-shop", tmp_path, url=server.url)
    message = str(caught.value)
    assert str((tmp_path / "my-shop").absolute()) in message and "my-shop.inter" in message
    assert "Only ml-100k can be downloaded automatically" in message
    assert server.state.requests == []


@pytest.mark.parametrize("url", ["not a url", "ftp-nope://example/ml-100k.zip"])
def test_malformed_url_is_a_download_error(tmp_path, url):
    with pytest.raises(DownloadError, match="unknown url type") as caught:
        ensure_dataset("ml-100k", tmp_path, url=url)
    assert url in str(caught.value)


# ----- an archive downloaded by hand ---------------------------------------------------------

@pytest.mark.parametrize("where", ["data_path", "dataset folder"])
def test_an_archive_downloaded_by_hand_is_converted_without_any_request(tmp_path, server, monkeypatch, where):
    expect_md5_of(monkeypatch, server.state.payload)
    folder = tmp_path / "ml-100k"
    place = tmp_path if where == "data_path" else folder
    place.mkdir(parents=True, exist_ok=True)
    (place / "ml-100k.zip").write_bytes(server.state.payload)
    assert ensure_dataset("ml-100k", tmp_path, url=server.url) == folder
    assert server.state.requests == []
    for name, text in SMALL_ATOMIC.items():
        assert (folder / name).read_bytes() == text.encode("utf-8")


def test_an_archive_by_hand_that_is_not_the_official_one_names_the_file_and_writes_nothing(tmp_path, server):
    (tmp_path / "ml-100k.zip").write_bytes(server.state.payload)  # the test archive, not GroupLens's
    with pytest.raises(DownloadError) as caught:
        ensure_dataset("ml-100k", tmp_path, url=server.url)
    message = str(caught.value)
    assert f"from {tmp_path / 'ml-100k.zip'} failed its checksum" in message
    assert "0e33842e24a9c977be4e0107933c0723" in message and server.state.requests == []
    assert not (tmp_path / "ml-100k").exists() or not any((tmp_path / "ml-100k").iterdir())


def test_the_manual_hint_mentions_the_official_archive(tmp_path):
    with pytest.raises(DownloadError) as caught:
        ensure_dataset("ml-100k", tmp_path, url="http://127.0.0.1:9/ml-100k.zip", timeout=2)
    assert f"the official ml-100k.zip in {(tmp_path / 'ml-100k').absolute()} or {tmp_path.absolute()}" in \
        str(caught.value)
