from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gosmee_trio.client.checkpoint import Checkpoint, write_atomically
from gosmee_trio.errors import ConfigError


def test_missing_or_blank_file_means_no_checkpoint(tmp_path: Path) -> None:
    assert Checkpoint(tmp_path / "none").load() == ""
    (tmp_path / "blank").write_text("  \n")
    assert Checkpoint(tmp_path / "blank").load() == ""
    assert Checkpoint(None).load() == ""


def test_round_trip_and_file_shape(tmp_path: Path) -> None:
    path = tmp_path / "state" / "resume"
    checkpoint = Checkpoint(path)
    checkpoint.advance("17-3")
    checkpoint.advance("not-an-id")  # ignored: only stream ids are checkpoints
    checkpoint.save()
    assert path.read_bytes() == b"17-3\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert Checkpoint(path).load() == "17-3"


def test_invalid_content_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "resume"
    path.write_text("garbage\n")
    with pytest.raises(
        ConfigError,
        match=r"^resume state file '.*resume' should hold a stream id like "
        r"'1718000000125-0', got 'garbage'$",
    ):
        Checkpoint(path).load()


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "resume"
    write_atomically(path, b"1-0\n")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="^disk on fire$"):
        write_atomically(path, b"2-0\n")
    assert path.read_bytes() == b"1-0\n"
    assert os.listdir(tmp_path) == ["resume"]


def test_save_writes_only_when_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "resume"
    checkpoint = Checkpoint(path)
    checkpoint.advance("5-0")
    checkpoint.save()
    writes: list[bytes] = []
    monkeypatch.setattr(
        "gosmee_trio.client.checkpoint.write_atomically", lambda p, d: writes.append(d)
    )
    checkpoint.save()
    checkpoint.advance("6-0")
    checkpoint.save()
    assert writes == [b"6-0\n"]
