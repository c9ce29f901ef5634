"""Random plugin behaviours through the real .so and host (tests/plugins/fuzz_plugin.py): return
values of every type for every callback, results mutated after they were returned, calls back
into the SDK from __bool__, __getattr__, __index__ and properties. Whatever the plugin does, the
host must not crash, and every failure must be a clear error that names what failed.

Bounded: FUZZ_EXAMPLES host runs (20 unless set), the same ones each time (derandomized), not
shrunk on failure.
Under `make sanitize` the runs also check every byte the host reads."""

from __future__ import annotations

import importlib
import json
import os
import re
import sys

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from support import PLUGINS, Built, Host

if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))
fuzz_plugin = importlib.import_module("fuzz_plugin")
BATCHES, FIELDS, VALUES = fuzz_plugin.BATCHES, fuzz_plugin.FIELDS, fuzz_plugin.VALUES

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))

specs = st.fixed_dictionaries({
    "batches": st.lists(st.sampled_from(sorted(BATCHES)), min_size=1, max_size=5),
    "fields": st.fixed_dictionaries({name: st.sampled_from(sorted(VALUES)) for name in FIELDS}),
    "e2s": st.sampled_from(sorted(VALUES)),
    "progress": st.sampled_from(sorted(VALUES)),
})

# what a crash or a broken contract looks like on the host's stderr
BROKEN = re.compile(r"AddressSanitizer|runtime error:|SystemError|Fatal Python error|Segmentation|"
                    r"exception set|Traceback \(most recent call last\)")
# a clear error: it says which callback or field, what was raised, and (raised in the plugin) where
CLEAR = re.compile(r"(field fz\.\w+|next_batch|event_to_string|progress)\S*: \w*(Error|Exception|Boom)\b")


# no shrinking: a failure is reported at once, with the spec that caused it
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=specs)
def test_random_plugin_behaviour_never_crashes_the_host(host: Host, built: Built, spec: dict[str, object]) -> None:
    lib = built("fuzz_plugin.py:Fuzz")
    fields = ",".join([*FIELDS, "fz.ls", "fz.s"])  # twice: the second answers come from the shim's cache
    run = host("run", "--json", "--progress", "-n", "50", "--fields", fields, "-p", lib, "-c", json.dumps(spec),
               timeout=120)
    assert run.returncode in (0, 1), run  # not killed by a signal, not a sanitizer's exit code
    assert not BROKEN.search(run.stderr), run
    for line in run.stderr.splitlines():
        if line.startswith("log error fuzz: "):
            assert CLEAR.search(line), line
            if "Boom" in line:  # raised by plugin code: the message says where
                assert "fuzz_plugin.py:" in line, line
    if run.returncode == 1:  # only a failed next_batch ends the run with an error
        assert run.summaries and run.summaries[-1]["end"] == "failure", run
        assert "next_batch" in run.stderr, run
    else:
        assert run.summaries[-1]["end"] in ("eof", "limit"), run
    summary = run.summaries[-1]
    assert summary["events"] == len(run.events)  # every event the host took was printed
    assert 0 <= summary.get("progress_pct", 0) <= 10000
