"""Writing outputs so that nothing is ever half-written, and the one-line stage log.

Every output goes to a temporary sibling first and is renamed into place only when it
is complete: a stage that fails leaves the previous outputs as they were. How long a
stage took goes to the log line and to `.cauce/timings.json`, never into an output: the
outputs are the same bytes on every run.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from cauce import DataError, ModelFileError
from cauce.layout import TIMINGS

if TYPE_CHECKING:  # pandas takes a second to import: serving imports this module without it
    import pandas as pd
from pydantic import BaseModel, TypeAdapter, ValidationError

log = logging.getLogger("cauce")

T = TypeVar("T")


def read_model_json(path: Path, hint: str = "") -> dict[str, Any]:
    """A JSON object `cauce package` or a stage wrote beside a model (model.json,
    serving.json, reference.json): anything else is a ModelFileError naming `path`."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: not found" + (f"; {hint}" if hint else "")) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: not JSON ({error}); package the model again") from None
    if not isinstance(value, dict):
        raise ModelFileError(f"{path}: holds a JSON {type(value).__name__}, not an object")
    return value


def read_typed(kind: type[T] | TypeAdapter[T], path: Path, what: str, hint: str = "") -> T:
    """The JSON object in `path` (read_model_json) validated as `kind`, a pydantic model or
    a TypeAdapter; a file that breaks it is a ModelFileError naming `what` and the first
    problem."""
    adapter = kind if isinstance(kind, TypeAdapter) else TypeAdapter(kind)
    try:
        return adapter.validate_python(read_model_json(path, hint))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ModelFileError(f"{path}: not {what}: {where}: {first['msg'].lower()}") from None


class _Temporary(TypedDict):
    prefix: str
    suffix: str
    dir: str


def _temporary(target: Path) -> _Temporary:
    """Where a temporary for `target` goes, named `.NAME.PID.RANDOM.tmp` after the process
    that writes it, so that a later writer can tell a dead one's leftovers (see _sweep)."""
    prefix = f".{target.name}.{os.getpid()}."
    return {"prefix": prefix, "suffix": ".tmp", "dir": str(target.parent)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether `pid` ended and waits to be reaped: a killed writer whose parent died too
    stays so where the container's first process never reaps (as on some CI runners)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:  # no /proc (macOS), or it was reaped meanwhile
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def _sweep(target: Path) -> None:
    """Remove the temporaries an earlier writer of `target` left when it was killed in
    the middle (SIGKILL, a lost runner): a half-written file never lingers beside the
    output for `git add -A` to pick up. A live writer's temporaries are left alone. A
    directory retired in the instant before its successor was renamed in comes back."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.[a-z0-9_]+(\.old)?\.tmp")
    for stray in sorted(target.parent.glob(f".{glob.escape(target.name)}.*.tmp")):
        found = pattern.fullmatch(stray.name)
        if found is None or _alive(int(found.group(1))):
            continue
        if found.group(2) and not target.exists():
            stray.rename(target)  # the previous whole directory
        elif stray.is_dir() and not stray.is_symlink():
            shutil.rmtree(stray, ignore_errors=True)
        else:
            stray.unlink(missing_ok=True)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep(target)
    handle, name = tempfile.mkstemp(**_temporary(target))
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        temporary.chmod(0o644)
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


def write_with(target: Path, write: Callable[[Path], Any]) -> Path:
    """Atomically write `target` with a function that writes to a given path."""
    with atomic_path(target) as temporary:
        write(temporary)
    return target


def write_bytes(target: Path, data: bytes) -> Path:
    return write_with(target, lambda path: path.write_bytes(data))


def write_text(target: Path, text: str) -> Path:
    return write_with(target, lambda path: path.write_text(text, encoding="utf-8"))


def write_json(target: Path, payload: Any) -> Path:
    """`payload` (plain JSON values, or a pydantic model of them) as indented JSON."""
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json", exclude_none=True)
    # A trailing newline, so end-of-file fixers leave DVC outputs alone.
    return write_text(target, json.dumps(payload, indent=2) + "\n")


def read_parquet(path: Path) -> pd.DataFrame:
    """An output of the pipeline read back, or a DataError naming it and the way back to
    the version dvc.lock records."""
    import pandas as pd
    import pyarrow as pa

    try:
        return pd.read_parquet(path)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise  # the file system's refusals, told as such (cauce.entry)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise DataError(
            f"{path}: cannot be read as Parquet ({error}); `dvc checkout {path}` restores "
            "the file dvc.lock records, `dvc repro` makes it again"
        ) from None


def write_parquet(target: Path, frame: pd.DataFrame, index: bool = False) -> Path:
    return write_with(target, lambda path: frame.to_parquet(path, index=index))


# Every member of a canonical archive gets this date: when it was written is not content.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def canonical_zip(members: dict[str, bytes]) -> bytes:
    """An uncompressed zip of `members` in the given order, with nothing in it that depends
    on when or where it was written: the same members give the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            member = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            member.create_system = 3  # unix
            member.external_attr = 0o644 << 16
            archive.writestr(member, data)
    return buffer.getvalue()


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield an empty temporary directory; it replaces `target` once the block succeeds.

    The old directory is moved aside before the new one is renamed in, so a crash in
    between leaves either the old or the new directory complete, never a mix.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep(target)
    staging = Path(tempfile.mkdtemp(**_temporary(target)))
    try:
        yield staging
        staging.chmod(0o755)
        retired = staging.with_name(staging.name.removesuffix(".tmp") + ".old.tmp")
        if target.exists():
            target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class StageLog:
    """Collects what a stage read and wrote, and logs it as one line when it ends."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.read: list[str] = []
        self.wrote: list[str] = []
        self.notes: list[str] = []
        self.timings: dict[str, float] = {}
        self.started = time.perf_counter()

    def reads(self, what: Path | str, rows: int | None = None) -> None:
        self.read.append(_describe(what, rows))

    def writes(self, what: Path | str, rows: int | None = None) -> None:
        self.wrote.append(_describe(what, rows))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def time(self, what: str, seconds: float) -> None:
        """Keep how long a part of the stage took (e.g. fitting), beside the whole."""
        self.timings[what] = round(seconds, 3)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def line(self) -> str:
        return (
            f"{self.stage}: read {', '.join(self.read) or 'nothing'}; "
            f"wrote {', '.join(self.wrote) or 'nothing'}; "
            + "".join(f"{note}; " for note in self.notes)
            + f"took {self.seconds:.1f} s"
        )


@contextmanager
def stage_log(stage: str) -> Iterator[StageLog]:
    record = StageLog(stage)
    yield record
    log.info(record.line())
    _keep_timings(record)


def read_timings() -> dict[str, Any]:
    """TIMINGS, or nothing where this machine has not run a stage."""
    try:
        timings: dict[str, Any] = json.loads(TIMINGS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return timings


def _keep_timings(record: StageLog) -> None:
    """Merge this stage's timings into TIMINGS (stages run one at a time under dvc repro)."""
    timings = read_timings()
    timings[record.stage] = {"seconds": round(record.seconds, 3), **record.timings}
    write_json(TIMINGS, timings)


FITS_KEPT = 50  # models whose fitting time TIMINGS remembers, the latest


def remember_fit(model_sha256: str, seconds: float) -> None:
    """Keep how long fitting the model with this hash took on this machine, so that the
    PR report can show a base model's training time beside this one's when this machine
    trained both (wall-clock time stays out of git and DVC's outputs)."""
    timings = read_timings()
    fits = {k: v for k, v in timings.get("fits", {}).items() if k != model_sha256}
    fits[model_sha256] = round(seconds, 3)
    timings["fits"] = dict(list(fits.items())[-FITS_KEPT:])
    write_json(TIMINGS, timings)


def _describe(what: Path | str, rows: int | None) -> str:
    return f"{what} ({rows:,} rows)" if rows is not None else str(what)
