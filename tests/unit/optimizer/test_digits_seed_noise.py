"""The seed-noise re-recording of the digits table: which configurations it picks, and how
the recorder resumes when one table index is recorded at several trainer seeds."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from bench.curves import load_table
from digits_seed_noise import RANDOM, TOP, select
from record_learning_curves import recorded_runs, sample_configs


def test_selection_is_the_best_finals_and_a_fixed_random_draw_of_the_rest() -> None:
    records = load_table()
    top, others = select(records)
    final = {int(r["index"]): float(r["accuracy"][-1]) for r in records}  # type: ignore[index, call-overload]
    assert len(top) == TOP and len(set(others)) == RANDOM and not set(top) & set(others)
    assert min(final[i] for i in top) >= max(final[i] for i in final if i not in top)
    assert select(records) == (top, others)
    # the recorder regenerates the table's configurations by index
    configs = sample_configs(len(records))
    assert all(configs[int(r["index"])] == r["params"] for r in records)  # type: ignore[call-overload]


def test_resume_keys_on_index_and_trainer_seed(tmp_path: Path) -> None:
    out = tmp_path / "curves.jsonl.gz"
    for record in ({"index": 4}, {"index": 4, "trainer_seed": 1}, {"index": 7, "trainer_seed": 2}):
        with gzip.open(out, "at") as file:
            file.write(json.dumps(record) + "\n")
    with out.open("ab") as file:  # a member cut short by a kill
        file.write(gzip.compress(b'{"index": 9, "trainer_seed": 3}\n')[:-12])
    assert recorded_runs(out) == {(4, None), (4, 1), (7, 2)}
    assert recorded_runs(tmp_path / "missing.jsonl.gz") == set()
