"""Picture records (landscape.cli.provenance) read as untrusted input: every field is checked
before use, a foreign or damaged record gives one line and exit 1, never a traceback, and
only a record that passes becomes a command."""
import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from landscape.cli import provenance

SHA = "ab" * 32
GENERATED = {"command": "generate", "version": "0.1.0", "device": "cpu", "backend": "onnxruntime", "precision": "fp32",
             "format": "png", "seed": 7, "scale": 4,
             "models": {"generate": {"file": "generate.onnx", "sha256": SHA, "bundled": True},
                        "upscale": {"file": "mine.onnx", "sha256": SHA, "bundled": False, "path": "/models/mine.onnx"}}}
WALK = {**{k: v for k, v in GENERATED.items() if k != "seed"}, "walk": {"seeds": [3, 7, 12], "frames": 4, "frame": 5}}

# Every place a field sits, as a path of keys.
FIELDS = [("command",), ("version",), ("device",), ("backend",), ("precision",), ("format",), ("seed",), ("scale",),
          ("models",), ("models", "generate"), ("models", "generate", "file"), ("models", "generate", "sha256"),
          ("models", "generate", "bundled"), ("models", "upscale", "path")]
WALK_FIELDS = [("walk",), ("walk", "seeds"), ("walk", "frames"), ("walk", "frame")]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def replaced(record: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(record)
    holder = out
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return out


def removed(record: dict, path: tuple) -> dict:
    out = copy.deepcopy(record)
    holder = out
    for key in path[:-1]:
        holder = holder[key]
    del holder[path[-1]]
    return out


def picture_with(path, text: str):
    info = PngImagePlugin.PngInfo()
    info.add_text(provenance.OWN_KEY, text)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def test_whole_records_pass_and_remake():
    assert provenance.remake_command(provenance.check(copy.deepcopy(GENERATED))).startswith("landscape generate --seeds 7")
    assert "--walk 3,7,12 --frames 4" in provenance.remake_command(provenance.check(copy.deepcopy(WALK)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([(GENERATED, f) for f in FIELDS] + [(WALK, f) for f in WALK_FIELDS]), json_values)
def test_any_json_value_in_any_field_is_checked_or_refused_by_name(where, value):
    record, path = where
    try:
        checked = provenance.check(replaced(record, path, value))
    except provenance.RecordError as exc:
        assert str(exc).startswith("record damaged: ")
        return
    command = provenance.remake_command(checked)  # a record that passes never breaks the remake
    assert command is None or command.startswith("landscape generate")


@pytest.mark.parametrize("path", FIELDS + WALK_FIELDS)
def test_a_missing_field_is_named_or_optional(path):
    record = WALK if path[0] == "walk" else GENERATED
    try:
        provenance.check(removed(record, path))
    except provenance.RecordError as exc:
        assert str(exc).startswith("record damaged: ")
    else:
        assert path == ("scale",), f"a record without {'.'.join(path)} passed"


@pytest.mark.parametrize("text, reason", [
    ("{}", "record damaged: command"),
    ('{"command": "generate"}', "record damaged: version"),
    ("[1, 2]", "record damaged: not an object"),
    ("not json {", "record damaged: not JSON"),
    ("[" * 100_000 + "]" * 100_000, "record damaged: not JSON"),  # deeper than the JSON reader recurses
    (json.dumps(replaced(WALK, ("walk",), [1, 2])), "record damaged: walk"),
    (json.dumps(replaced(GENERATED, ("models", "generate", "sha256"), 5)), "record damaged: models.generate.sha256"),
    (json.dumps(replaced(GENERATED, ("seed",), "7")), "record damaged: seed"),
    (json.dumps({**GENERATED, "command": "rm -rf"}), "record damaged: command"),
])
def test_info_names_what_is_wrong_in_one_line(tmp_path, cli, text, reason):
    picture = picture_with(tmp_path / "p.png", text)
    res = cli("info", picture)
    assert res.exit_code == 1
    assert res.stderr.strip() == f"landscape: {picture}: {reason}"
    assert "Traceback" not in res.output


def test_info_goes_on_past_a_damaged_record(tmp_path, cli):
    bad = picture_with(tmp_path / "bad.png", "{}")
    good = picture_with(tmp_path / "good.png", json.dumps(GENERATED))
    res = cli("info", bad, good)
    assert res.exit_code == 1
    assert f"{good}: generate by landscape 0.1.0" in res.stdout and "remake: landscape generate --seeds 7" in res.stdout
    assert res.stderr.count("\n") == 1


def test_a_file_that_is_not_a_picture_gets_one_line(tmp_path, cli):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    res = cli("info", junk)
    assert res.exit_code == 1 and res.stderr.startswith(f"landscape: {junk}: cannot read it") and res.stderr.count("\n") == 1
