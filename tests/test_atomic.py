import pytest

from hyperret_eval import atomic


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out" / "result.json"
    atomic.write_json(target, {"v": 1})

    def half_writer(path):
        path.write_text('{"v": 2', encoding="utf-8")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic.write_with(target, half_writer)
    assert target.read_text(encoding="utf-8").strip() == '{\n  "v": 1\n}'
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]
