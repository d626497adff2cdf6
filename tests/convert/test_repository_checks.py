"""``convert repository`` checks the repository it has just built and fails, listing every problem, when a
config disagrees with its record, its ONNX file or the ensemble chain.

The checks themselves are tested one by one in tests/serving/test_repository_configs.py; these tests run
the whole check the way the command does, on the session's exported repository and on a broken copy of it
(the copy is re-checked, not re-exported: its ONNX files are current).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from convert.__main__ import main
from convert.repository_checks import repository_problems


def break_config(folder: Path, old: str, new: str) -> None:
    path = folder / "config.pbtxt"
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def test_the_built_repository_has_no_problem(exported_repository: Path) -> None:
    assert repository_problems(exported_repository) == []


def test_convert_repository_fails_listing_every_problem(
    exported_repository: Path, checkpoints_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repository = tmp_path / "model_repository"
    shutil.copytree(exported_repository, repository)
    command = ["repository", "--checkpoints", str(checkpoints_dir), "--repository", str(repository)]

    main(command)  # the intact copy: nothing to export, nothing to report
    out, err = capsys.readouterr()
    assert str(repository / "text_detection" / "1" / "model.onnx") in out
    assert "in the model repository" not in err

    break_config(
        repository / "text_detection", "data_type: TYPE_FP32 dims: [ 3,", "data_type: TYPE_FP16 dims: [ 3,"
    )
    break_config(repository / "text_recognition_ch", "dims: [ 3, 48, -1 ]", "dims: [ 3, 32, -1 ]")
    with pytest.raises(SystemExit) as exit_info:
        main(command)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    expected = [
        "text_detection: input 'image' is TYPE_FP16 but ONNX has FLOAT",  # the ONNX file
        "ocr: ensemble tensor 'detection_input': inconsistent data type",  # the ensemble chain
        "text_recognition_ch: input dims [3, 32, -1] != [3, 48, -1]",  # the config record
        "text_recognition_ch: input 'image' dim 1 is 32 but 48 in ONNX",
        # the twin is generated from the broken config, and checked after it is written
        "text_recognition_ch_sequential: input 'image' dim 1 is 32 but 48 in ONNX",
    ]
    for problem in expected:
        assert problem in err, (problem, err)
    listed = [line.removeprefix("  ") for line in err.splitlines() if line.startswith("  ")]
    assert f"{repository}: {len(listed)} problem(s) in the model repository:" in err
    assert listed == repository_problems(repository)  # every problem, one a line (stderr also has tqdm's bar)
