"""Every command's outputs on the sample folders, byte for byte: against the digests recorded for
this machine kind, or, on a kind with none, against what the previous commit's tree gives on this
machine (scripts/output_digests.py says how they are kept)."""
import json

import pytest

from scripts import output_digests

pytestmark = pytest.mark.slow


def test_outputs_match_the_recorded_digests_or_the_previous_commits(tmp_path):
    recorded = json.loads(output_digests.DIGESTS.read_text())
    kind = output_digests.machine_kind()
    if kind in recorded:
        reference, may_change = recorded[kind], set()
    else:
        reference, may_change = output_digests.previous_tree("HEAD~1", tmp_path), output_digests.declared_changes("HEAD~1")
    results = output_digests.run_all(reference.get(output_digests.RATES))
    compared = [name for name in reference if name in results and name != output_digests.RATES and name not in may_change]
    assert compared or may_change, "nothing to compare"
    changed = [name for name in compared if results[name] != reference[name]]
    assert not changed, f"outputs differ from {'the recorded digests' if kind in recorded else 'the previous commit'}: {changed}"


def test_a_commit_declares_no_change_against_itself():
    assert output_digests.declared_changes("HEAD") == set() or output_digests.DIGESTS.read_text() != _committed()


def _committed() -> str:
    import subprocess

    return subprocess.run(["git", "show", f"HEAD:{output_digests.DIGESTS.relative_to(output_digests.ROOT)}"],
                          cwd=output_digests.ROOT, capture_output=True, text=True).stdout
