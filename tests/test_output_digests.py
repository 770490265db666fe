"""Every command's outputs on the sample folders, byte for byte, against the digests recorded
for this machine kind (scripts/output_digests.py says how they are kept)."""
import json

import pytest

from scripts import output_digests

pytestmark = pytest.mark.slow


def test_outputs_match_the_recorded_digests():
    recorded = json.loads(output_digests.DIGESTS.read_text())
    kind = output_digests.machine_kind()
    if kind not in recorded:
        pytest.skip(f"no digests recorded for {kind!r} (recorded: {sorted(recorded)}); "
                    "python -m scripts.output_digests --record adds them")
    results = output_digests.run_all(recorded[kind].get(output_digests.RATES))
    changed = [name for name in recorded[kind] if results.get(name) != recorded[kind][name]]
    assert not changed, f"outputs differ from the recorded digests: {changed}"
