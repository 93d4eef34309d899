"""Atomic writes: nothing under the final name until the block succeeds, and the usual permissions."""

from __future__ import annotations

import os
import stat

import pytest

from pacgan_lite.atomic import atomic_directory, atomic_path, write_json


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_and_folders_get_the_modes_of_a_plain_write(tmp_path, umask_027):
    write_json(tmp_path / "a.json", {"x": 1})
    with atomic_directory(tmp_path / "folder") as folder:
        (folder / "inside.txt").write_text("x")
    assert _mode(tmp_path / "a.json") == 0o640  # 0o666 & ~0o027, not mkstemp's private 0o600
    assert _mode(tmp_path / "folder") == 0o750  # 0o777 & ~0o027, not mkdtemp's 0o700
    assert os.umask(0o027) == 0o027  # reading the umask left it as it was


def test_a_failed_block_leaves_neither_file_nor_folder(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "images.nii.gz") as tmp:
        assert tmp.name.endswith(".nii.gz")  # writers that choose the format by suffix still work
        tmp.write_text("half")
        raise RuntimeError("crash")
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "out"):
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_json_has_null_where_a_number_is_not_finite(tmp_path):
    write_json(tmp_path / "m.json", {"auc": float("nan"), "d": [1.0, float("inf")], "ok": 0.5})
    assert (tmp_path / "m.json").read_text().split() == ['{', '"auc":', 'null,', '"d":', '[', '1.0,', 'null', '],',
                                                         '"ok":', '0.5', '}']
