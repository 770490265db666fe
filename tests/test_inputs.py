"""Inputs: folders, globs, stdin, symlinks, duplicates; masks paired by name only."""
import io
import os
from pathlib import Path

import pytest

from landscape.errors import UsageError
from landscape.cli.inputs import collect, pair_masks


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_folders_are_sorted_and_filtered(tmp_path):
    for name in ("b.png", "a.JPG", "c.txt", ".hidden.png", "sub/d.png"):
        touch(tmp_path / name)
    got = collect([str(tmp_path)])
    assert [p.name for p in got.paths] == ["a.JPG", "b.png"]
    assert any("skipped 1 file" in n for n in got.notes)
    assert [p.name for p in collect([str(tmp_path)], recursive=True).paths] == ["a.JPG", "b.png", "d.png"]


def test_output_folder_inside_input_folder_is_not_read_back(tmp_path):
    touch(tmp_path / "a.png")
    touch(tmp_path / "out" / "a.png")
    got = collect([str(tmp_path)], recursive=True, exclude=tmp_path / "out")
    assert [p.name for p in got.paths] == ["a.png"]


def test_globs_missing_files_and_broken_links(tmp_path):
    touch(tmp_path / "x1.png")
    touch(tmp_path / "x2.png")
    os.symlink(tmp_path / "gone.png", tmp_path / "dangling.png")
    got = collect([str(tmp_path / "x*.png"), str(tmp_path / "nope.png"), str(tmp_path / "dangling.png"), str(tmp_path / "z*.png")])
    assert [p.name for p in got.paths] == ["x1.png", "x2.png"]
    reasons = dict(got.problems)
    assert reasons[str(tmp_path / "nope.png")] == "no such file or directory"
    assert reasons[str(tmp_path / "dangling.png")] == "broken symbolic link"
    assert reasons[str(tmp_path / "z*.png")] == "no file matches this pattern"


def test_looping_symlinked_folders_do_not_trap_the_walk(tmp_path):
    touch(tmp_path / "a" / "p.png")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    assert [p.name for p in collect([str(tmp_path)], recursive=True).paths] == ["p.png"]


def test_stdin_crlf_duplicates_and_nul(tmp_path):
    a, b = touch(tmp_path / "a.png"), touch(tmp_path / "b c#é.png")
    got = collect(["-"], stdin=io.StringIO(f"{a}\r\n{b}\r\n{a}\n\n"))
    assert got.paths == [a, b] and any("processed once" in n for n in got.notes)
    weird = touch(tmp_path / "new\nline.png")
    assert collect(["-"], null_separated=True, stdin=io.StringIO(f"{weird}\0{a}\0")).paths == [weird, a]
    refused = collect([str(tmp_path)])
    assert any("newline" in reason for _, reason in refused.problems)
    with pytest.raises(UsageError):
        collect(["-", "-"], stdin=io.StringIO(""))


def test_masks_pair_by_name_never_by_position(tmp_path):
    images = [touch(tmp_path / "img" / n) for n in ("a.png", "b.png", "c.png")]
    touch(tmp_path / "masks" / "c.png")
    touch(tmp_path / "masks" / "a_mask.png")
    touch(tmp_path / "masks" / "zzz.png")
    pairing = pair_masks(images, tmp_path / "masks")
    assert pairing.masks == {images[0]: tmp_path / "masks" / "a_mask.png", images[2]: tmp_path / "masks" / "c.png"}
    assert images[1] not in pairing.masks  # no mask for b, although one file is left over
    assert pairing.orphans == [tmp_path / "masks" / "zzz.png"]


def test_companion_masks_beside_images_and_ambiguity(tmp_path):
    a, a_mask = touch(tmp_path / "a.png"), touch(tmp_path / "a_mask.png")
    b = touch(tmp_path / "b.jpg")
    touch(tmp_path / "b_mask1.png")
    touch(tmp_path / "b_mask2.png")
    paths = collect([str(tmp_path)]).paths
    pairing = pair_masks(paths, None)
    assert pairing.images == [a, b]
    assert pairing.masks[a] == a_mask
    assert "ambiguous" in pairing.problems[b]


def test_one_mask_for_all_and_missing_masks_folder(tmp_path):
    a, b, m = touch(tmp_path / "a.png"), touch(tmp_path / "b.png"), touch(tmp_path / "m" / "one.png")
    assert pair_masks([a, b], m).masks == {a: m, b: m}
    with pytest.raises(UsageError):
        pair_masks([a], tmp_path / "missing")
