"""Outputs are written whole or not at all."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from cauce.files import atomic_directory, stage_log, write_json, write_text


class BoomError(RuntimeError):
    pass


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    target = write_text(tmp_path / "out.txt", "good")

    def fail(path):
        path.write_text("half", encoding="utf-8")
        raise BoomError

    from cauce.files import write_with

    with pytest.raises(BoomError):
        write_with(target, fail)
    assert target.read_text(encoding="utf-8") == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_json_ends_with_a_newline(tmp_path):
    path = write_json(tmp_path / "a/b.json", {"x": 1})
    assert path.read_text(encoding="utf-8").endswith("}\n")
    assert json.loads(path.read_text(encoding="utf-8")) == {"x": 1}


def test_a_failed_directory_keeps_the_previous_directory(tmp_path):
    target = tmp_path / "models"
    with atomic_directory(target) as staging:
        (staging / "model.txt").write_text("v1", encoding="utf-8")

    def half_written():
        with atomic_directory(target) as staging:
            (staging / "model.txt").write_text("v2", encoding="utf-8")
            raise BoomError

    with pytest.raises(BoomError):
        half_written()
    assert (target / "model.txt").read_text(encoding="utf-8") == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["models"]


def test_a_directory_is_replaced_whole(tmp_path):
    target = tmp_path / "models"
    with atomic_directory(target) as staging:
        (staging / "old-only.txt").write_text("x", encoding="utf-8")
    with atomic_directory(target) as staging:
        (staging / "new.txt").write_text("y", encoding="utf-8")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert oct(target.stat().st_mode & 0o777) == "0o755"


def test_the_stage_log_is_one_line(caplog):
    caplog.set_level("INFO", logger="cauce")
    with stage_log("ingest") as log:
        log.reads("data/source.parquet", 1200)
        log.writes("data/raw/data.parquet", 1000)
        log.note("dropped 3 exact duplicate rows")
    (line,) = caplog.messages
    assert line.startswith(
        "ingest: read data/source.parquet (1,200 rows); wrote data/raw/data.parquet (1,000 rows); "
        "dropped 3 exact duplicate rows; took "
    )
    assert line.endswith(" s")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="zombies are read from /proc")
def test_a_killed_writer_not_yet_reaped_is_dead_and_its_temporaries_are_swept(tmp_path):
    """A writer killed with its parent stays a zombie where nobody reaps it (a container
    whose first process never does): its staging directory must still be swept, and a
    live writer's kept."""
    target = tmp_path / "models"
    dead = subprocess.Popen(["sleep", "60"])
    alive = subprocess.Popen(["sleep", "60"])
    try:
        dead.kill()
        while Path(f"/proc/{dead.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.01)  # not waited for: a zombie until the end of the test
        for writer in (dead, alive):
            (tmp_path / f".models.{writer.pid}.abc123.tmp").mkdir()
        with atomic_directory(target) as staging:
            (staging / "model.txt").write_text("v1", encoding="utf-8")
        left = sorted(p.name for p in tmp_path.iterdir())
        assert left == [f".models.{alive.pid}.abc123.tmp", "models"]
    finally:
        alive.kill()
        for writer in (dead, alive):
            writer.wait()
