"""Find a dataset's atomic files, downloading and converting the ones the library knows.

`ensure_dataset` is the only network access in gru4recf. It returns `<data_path>/<name>` once that
folder holds `<name>.inter`; a folder that already has it is used as is, without any request. For
MovieLens-100k it fetches the GroupLens archive (standard library HTTP, MD5-checked), or takes the
same archive downloaded by hand (`<name>.zip` in the dataset folder or in `data_path`), and converts
the raw files to RecBole atomic files that are byte-identical to the ones RecBole 1.2.1 ships.

Conversion rules for ml-100k (worked out from RecBole's files; the rules reproduce them exactly):
- Output is UTF-8, tab-separated, one header line of `name:type` fields, `\\n` line ends, a final
  newline. Raw files are read as Latin-1 (`u.item` holds accented titles; the others are ASCII).
- `ml-100k.inter` (`user_id:token item_id:token rating:float timestamp:float`): the rows of
  `u.data` in their original order, each number written exactly as in the raw file (integers,
  e.g. `196 242 3 881250949`), although the header declares rating and timestamp as float.
- `ml-100k.item` (`item_id:token movie_title:token_seq release_year:token class:token_seq`):
  - `release_year` is taken from the *title*, never from the release-date column: it is the
    content of the last parenthesised group at the end of the title, and the title is what comes
    before it, with surrounding spaces removed. Hence `Shanghai Triad (Yao a yao yao dao waipo
    qiao) (1995)` gives title `Shanghai Triad (Yao a yao yao dao waipo qiao)` and year `1995`, and
    `Land Before Time III: ... (1995) (V)` gives title `Land Before Time III: ... (1995)` and year
    `V` (RecBole keeps this quirk). A release date that disagrees with the title is ignored.
  - A title with no parenthesised group gets release_year `unkonwn` (RecBole's spelling); if the
    title itself is the placeholder `unknown` (item 267, whose date and URL are empty) or empty,
    it becomes `unkonwn` too.
  - `class` lists the genres whose flag is 1, in GroupLens's column order (`GENRES`), joined by
    single spaces; genre names are written correctly (`unknown`), e.g. `Animation Children's
    Comedy`.
- `ml-100k.user` (`user_id age gender occupation zip_code`, all token): the rows of `u.user` as
  they are (zip codes stay text: `05201`, `T8H1N`).
"""

from __future__ import annotations

import hashlib
import http.client
import re
import socket
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Dict, List, Optional, Sequence, Tuple, Union

from gru4recf.atomic_write import atomic_write_bytes
from gru4recf.errors import DataFormatError, DatasetError, DownloadError

from .settings import DATA_PATH_ENV

GENRES: Tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
UNKNOWN_TOKEN = "unkonwn"  # RecBole's spelling (item 267's title and year), kept for equal files
_CHUNK = 1 << 16
_TITLE_YEAR = re.compile(r"^(.*?)\s*\(([^()]*)\)\s*$")


@dataclass(frozen=True)
class DatasetSource:
    """Where a downloadable dataset comes from and how its archive becomes atomic files.

    `convert` maps the opened archive to `{file name: file bytes}`; `<name>.inter` must be
    among the names.
    """

    url: str
    md5: str
    convert: Callable[[zipfile.ZipFile], Dict[str, bytes]]


def ensure_dataset(name: str, data_path: Union[str, Path], url: Optional[str] = None,
                   timeout: float = 30.0, show_progress: bool = False) -> Path:
    """Return the folder `<data_path>/<name>`, downloading the dataset first if it is missing.

    The folder counts as present when it holds `<name>.inter`; then nothing is fetched. Otherwise
    a dataset listed in `SOURCES` (only 'ml-100k') is downloaded from `url` (default: the
    official archive) with the given socket `timeout` in seconds, checked against its MD5 and
    converted; each atomic file is written atomically and `.inter` last, so an interrupted run
    leaves no `.inter` and is simply redone. Raises DatasetError for an unknown, absent dataset
    and DownloadError when the download fails or its checksum does not match (then nothing is
    written).
    """
    folder = Path(data_path).expanduser() / name
    inter = folder / f"{name}.inter"
    if inter.is_file():
        return folder
    source = SOURCES.get(name)
    if source is None:
        raise DatasetError(
            f"Dataset {name!r} not found: there is no file {inter.name} in {folder.absolute()}. "
            f"Only {', '.join(sorted(SOURCES))} can be downloaded automatically. "
            + _manual_hint(name, folder))
    by_hand = next((path for path in (folder / f"{name}.zip", folder.parent / f"{name}.zip") if path.is_file()), None)
    if by_hand is not None:  # the official archive, downloaded by hand: converted as a download would be
        with open(by_hand, "rb") as archive:
            return _install(name, source, archive, _md5(archive), str(by_hand), folder)
    url = url or source.url
    with tempfile.TemporaryFile() as archive:
        got = _fetch(url, archive, timeout, show_progress, name, folder)
        return _install(name, source, archive, got, url, folder)


def _md5(handle: IO[bytes]) -> str:
    digest = hashlib.md5()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    handle.seek(0)
    return digest.hexdigest()


def _install(name: str, source: "DatasetSource", archive: IO[bytes], md5: str, origin: str, folder: Path) -> Path:
    """Checks the archive from `origin` (a URL or a file) against the source's MD5, converts it and
    writes the atomic files, `.inter` last; nothing is written when anything fails."""
    if md5 != source.md5:
        raise DownloadError(
            f"The archive for {name!r} from {origin} failed its checksum: expected MD5 {source.md5}, got {md5}. "
            f"Nothing was written to {folder.absolute()}; retry later. " + _manual_hint(name, folder))
    archive.seek(0)
    try:
        with zipfile.ZipFile(archive) as opened:
            files = source.convert(opened)
    except (zipfile.BadZipFile, DataFormatError) as exc:
        raise DownloadError(
            f"The archive from {origin} could not be converted ({str(exc).rstrip('.')}). Nothing was written "
            f"to {folder.absolute()}. " + _manual_hint(name, folder)) from exc
    inter = f"{name}.inter"
    for file_name in sorted(files, key=lambda f: f == inter):  # .inter last
        atomic_write_bytes(folder / file_name, files[file_name])
    return folder


def convert_ml100k(archive: zipfile.ZipFile) -> Dict[str, bytes]:
    """Convert the GroupLens ml-100k archive to RecBole's atomic files (rules: module docstring)."""
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for where, fields in _raw_rows(archive, "u.data", None, 4):
        for column, value in (("rating", fields[2]), ("timestamp", fields[3])):
            _check_number(where, column, value)
        inter.append(_join(where, fields))
    item = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    for where, fields in _raw_rows(archive, "u.item", "|", 5 + len(GENRES)):
        title, year = split_title(fields[1])
        item.append(_join(where, [fields[0], title, year, _genres(where, fields[5:])]))
    user = ["user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token"]
    for where, fields in _raw_rows(archive, "u.user", "|", 5):
        user.append(_join(where, fields))
    return {f"ml-100k.{kind}": ("\n".join(lines) + "\n").encode("utf-8")
            for kind, lines in (("inter", inter), ("item", item), ("user", user))}


def split_title(raw_title: str) -> Tuple[str, str]:
    """Split a u.item title into (movie_title, release_year) the way RecBole did.

    The year is the last parenthesised group ending the title; see the module docstring for the
    `unkonwn` placeholder used when there is none.
    """
    match = _TITLE_YEAR.match(raw_title.strip())
    if match and match.group(1) and match.group(2).strip():
        return match.group(1).strip(), match.group(2).strip()
    title = raw_title.strip()
    return (title if title and title.lower() != "unknown" else UNKNOWN_TOKEN), UNKNOWN_TOKEN


SOURCES: Dict[str, DatasetSource] = {
    "ml-100k": DatasetSource(
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        md5="0e33842e24a9c977be4e0107933c0723",
        convert=convert_ml100k,
    ),
}


def _fetch(url: str, out: IO[bytes], timeout: float, show_progress: bool, name: str,
           folder: Path) -> str:
    """Stream `url` into `out` and return the MD5 hex digest; DownloadError on any failure."""
    from tqdm import tqdm  # imported here: only a download needs it

    digest = hashlib.md5()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "gru4recf"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            size = response.headers.get("Content-Length")
            total = int(size) if size and size.isdigit() else None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"Downloading {name}",
                      disable=not show_progress) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as exc:
        reason = f"the server answered HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        offline = isinstance(exc.reason, OSError)
        reason = f"{exc.reason}" + (" (is this machine offline?)" if offline else "")
    except (socket.timeout, TimeoutError):
        reason = f"no answer within the timeout of {timeout:g} s"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
    else:
        return digest.hexdigest()
    raise DownloadError(
        f"Dataset {name!r} is not in {folder.absolute()} (no {name}.inter there) and downloading "
        f"it from {url} failed: {reason}. " + _manual_hint(name, folder))


def _manual_hint(name: str, folder: Path) -> str:
    """How to provide a dataset by hand; the last sentence of every dataset error."""
    archive = f"the official {name}.zip in {folder.absolute()} or {folder.parent.absolute()} (it is converted), " \
        if name in SOURCES else ""
    return (f"To provide it by hand, put {archive}{name}.inter (and {name}.item / {name}.user if you have "
            f"them) in {folder.absolute()}, or point data_path (or the environment variable "
            f"{DATA_PATH_ENV}) to a folder that holds {name}/{name}.inter.")


def _raw_rows(archive: zipfile.ZipFile, member: str, sep: Optional[str],
              n_fields: int) -> List[Tuple[str, List[str]]]:
    """Rows of the archive file called `member` as (location for errors, stripped fields)."""
    paths = [info.filename for info in archive.infolist()
             if PurePosixPath(info.filename).name == member and not info.is_dir()]
    if len(paths) != 1:
        raise DataFormatError(f"The archive should contain exactly one {member}; "
                              f"found {len(paths)} ({', '.join(paths) or 'none'}).")
    text = archive.read(paths[0]).decode("latin-1")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(sep)]
        where = f"{paths[0]} line {number}"
        if len(fields) != n_fields:
            raise DataFormatError(f"{where}: expected {n_fields} fields, found {len(fields)}.")
        rows.append((where, fields))
    return rows


def _genres(where: str, flags: Sequence[str]) -> str:
    """The space-separated names of the genres whose flag is '1'."""
    if any(flag not in ("0", "1") for flag in flags):
        raise DataFormatError(f"{where}: genre flags must be 0 or 1, found {'|'.join(flags)}.")
    return " ".join(genre for genre, flag in zip(GENRES, flags) if flag == "1")


def _check_number(where: str, column: str, value: str) -> None:
    """Fail with the location when a numeric raw field is not a number."""
    try:
        float(value)
    except ValueError:
        raise DataFormatError(f"{where}: {column} must be a number, found {value!r}.") from None


def _join(where: str, fields: Sequence[str]) -> str:
    """One atomic-file line; a tab inside a field would shift the columns, so it is refused."""
    if any("\t" in field for field in fields):
        raise DataFormatError(f"{where}: a field contains a tab, which atomic files cannot hold.")
    return "\t".join(fields)
