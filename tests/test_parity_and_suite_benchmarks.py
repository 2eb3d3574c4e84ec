"""What benchmarks/ofa_parity.py, benchmarks/hf_port.py and benchmarks/suite_cpu.py compute
from the runs they make, on inputs whose right answer is known: the parity figures are the
largest differences between the reference's outputs and ours (not ours against ours, not a
mean), in each precision the table names; the conversion check compares the positions that
are not padding; the suite's CPU seconds are per phase, with the child processes'.

The comparisons themselves need OFA's source or its transformers port (tests/test_ofa_parity.py
runs the first where ``OFA_SOURCE`` names a checkout); these tests need neither.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "benchmarks"))
import hf_port  # noqa: E402
import suite_cpu  # noqa: E402
from measurement import Provenance  # noqa: E402
from test_ofa_parity import parity  # noqa: E402,F401  (the benchmark module, loaded once)


@pytest.fixture(scope="module")
def demo_model_and_batch():
    from ofa_mue.models.builders import build_model, numbered_dictionary

    torch.manual_seed(0)
    dictionary = numbered_dictionary(40)
    model = build_model("ofa_demo", dictionary).eval()
    generator = torch.Generator().manual_seed(1)
    source = torch.randint(4, 40, (2, 6), generator=generator)
    source[:, 0], source[0, -1], source[1, 3], source[1, 4:] = dictionary.bos(), dictionary.eos(), dictionary.eos(), \
        dictionary.pad()
    batch = {"src_tokens": source, "src_lengths": torch.tensor([6, 4]),
             "prev_output_tokens": torch.cat([torch.full((2, 1), dictionary.bos()),
                                              torch.randint(4, 40, (2, 4), generator=generator)], 1),
             "patch_images": torch.randn(2, 3, 48, 48, generator=generator),
             "patch_masks": torch.ones(2, dtype=torch.bool)}
    return model, batch


class _Reference:
    """An OFA-like reference made of our model: its encoder output time-first, as OFA's, and off
    from ours by a known amount at one element; the decoder's logits off by another, teacher-forced,
    and by a third, step by step."""

    def __init__(self, model, encoder_shift: float, logits_shift: float, step_shift: float):
        self.model, self.shifts = model, (encoder_shift, logits_shift, step_shift)

    def encoder(self, *args, **kwargs):
        out = self.model.encoder(*args, **kwargs)
        shown = out["encoder_out"][0].transpose(0, 1).clone()
        shown[1, 1, 2] += self.shifts[0]
        return {**out, "encoder_out": [shown], "ours": out}

    def decoder(self, tokens, encoder_out, incremental_state=None):
        logits, extra = self.model.decoder(tokens, encoder_out=encoder_out["ours"], incremental_state=incremental_state)
        logits = logits.clone()
        logits[0, -1, 3] += self.shifts[1] if incremental_state is None else self.shifts[2] * (tokens.size(1) == 2)
        return logits, extra


def test_parity_reports_the_largest_differences_between_the_reference_and_ours(parity, demo_model_and_batch):
    model, batch = demo_model_and_batch
    result = parity.compare(_Reference(model, 0.5, 0.25, 0.125), model, batch)
    assert result["encoder_output_max_abs_diff"] == pytest.approx(0.5, abs=1e-6)
    assert result["logits_max_abs_diff"] == pytest.approx(0.25, abs=1e-6)
    assert result["step_by_step_logits_max_abs_diff"] == pytest.approx(0.125, abs=1e-5)
    with torch.no_grad():
        ours = model.encoder(batch["src_tokens"], src_lengths=batch["src_lengths"], patch_images=batch["patch_images"],
                             patch_masks=batch["patch_masks"])
        logits = model.decoder(batch["prev_output_tokens"], encoder_out=ours)[0]
    assert result["encoder_output_max_abs"] == pytest.approx(float(ours["encoder_out"][0].abs().max()))
    logits[0, -1, 3] += 0.25  # the reference's
    assert result["logits_max_abs"] == pytest.approx(float(logits.abs().max()))


def test_step_by_step_decodes_one_position_per_call_with_the_cache(parity, demo_model_and_batch):
    model, batch = demo_model_and_batch
    with torch.no_grad():
        encoder_out = model.encoder(batch["src_tokens"], src_lengths=batch["src_lengths"],
                                    patch_images=batch["patch_images"], patch_masks=batch["patch_masks"])
        forced = model.decoder(batch["prev_output_tokens"], encoder_out=encoder_out)[0]
        calls = []
        decoder = model.decoder

        class Counting:
            def decoder(self, tokens, encoder_out, incremental_state=None):
                calls.append((tokens.size(1), incremental_state is not None))
                return decoder(tokens, encoder_out=encoder_out, incremental_state=incremental_state)

        steps = parity.step_by_step(Counting(), batch, encoder_out)
    assert calls == [(t, True) for t in range(1, batch["prev_output_tokens"].size(1) + 1)]
    assert steps.shape == forced.shape
    torch.testing.assert_close(steps, forced, atol=1e-5, rtol=1e-5)


def test_precise_softmax_and_gelu_compute_in_the_inputs_precision_and_are_restored(parity):
    import fairseq.modules
    from fairseq import utils

    x = torch.randn(3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3
    softmax, gelu = utils.softmax, fairseq.modules.gelu
    assert not torch.equal(utils.softmax(x, dim=-1), F.softmax(x, dim=-1))  # float32 inside, as shipped
    with parity.precise_softmax_and_gelu():
        assert utils.softmax(x, dim=-1).dtype == torch.float64
        assert torch.equal(utils.softmax(x, dim=-1), F.softmax(x, dim=-1))
        assert torch.equal(fairseq.modules.gelu(x), F.gelu(x))
    assert (utils.softmax, fairseq.modules.gelu) == (softmax, gelu)


def test_parity_rows_compare_the_same_random_weights_in_the_precision_each_row_names(parity, monkeypatch):
    import types

    from fairseq import utils

    from ofa_mue.models.builders import build_model, numbered_dictionary

    shipped_softmax = utils.softmax
    dictionary = numbered_dictionary(40)
    fake_ofa = types.SimpleNamespace(  # "OFA's" model: ours, built where build_reference builds OFA's
        ofa_demo_architecture=lambda args: None,
        OFAModel=types.SimpleNamespace(build_model=lambda args, task: build_model("ofa_demo", task.source_dictionary)))
    seen = []

    def compare(reference, ours, batch):  # what each row would compare, instead of running the models
        state = ours.state_dict()
        same = all(torch.equal(value, state[name]) for name, value in reference.state_dict().items())
        norms = [p for name, p in ours.named_parameters() if name.endswith("layer_norm.weight")]
        drawn = bool(norms) and all(not torch.all(p == 1) for p in norms)  # a fresh model's are all 1
        seen.append((next(reference.parameters()).dtype, next(ours.parameters()).dtype, batch["patch_images"].dtype,
                     utils.softmax is not shipped_softmax, same, drawn))
        return {"difference": 0.0}

    monkeypatch.setattr(parity, "compare", compare)
    monkeypatch.setattr(parity.OFAVocabulary, "load", staticmethod(lambda: types.SimpleNamespace(dictionary=dictionary)))
    rows = parity.parity(fake_ofa, "ofa_demo", 48, seed=0)
    assert [row["precision"] for row in rows] == list(parity.PRECISIONS)
    assert seen == [(torch.float32, torch.float32, torch.float32, False, True, True),
                    (torch.float64, torch.float64, torch.float64, False, True, True),
                    (torch.float64, torch.float64, torch.float64, True, True, True)]
    assert utils.softmax is shipped_softmax


def test_parity_table_is_rendered_from_the_recorded_rows(parity):
    report = json.loads((RESULTS / "ofa_parity.json").read_text())
    assert parity.markdown(report) == (RESULTS / "ofa_parity.md").read_text()


# ---- hf_port.py -------------------------------------------------------------------------------
def test_hf_conversion_difference_is_the_largest_over_positions_that_are_not_padding():
    padding = torch.tensor([[False, False, False], [False, True, True]])
    encoder = torch.zeros(2, 3, 4)
    logits = torch.zeros(2, 5, 6)
    a = {"encoder": encoder, "padding": padding, "logits": logits + 2.0}
    other_encoder = encoder.clone()
    other_encoder[0, 1, 2] = 0.25   # a real position: counted
    other_encoder[1, 1, 0] = 0.01
    other_encoder[1, 2, :] = 9.0    # padding: not counted
    other_logits = logits + 2.0
    other_logits[1, 4, 5] = -1.0    # 3 away
    other_logits[0, 0, 0] = 2.5
    b = {"encoder": other_encoder, "padding": padding.clone(), "logits": other_logits}
    assert hf_port.max_difference(a, b) == {"encoder_out": 0.25, "logits": 3.0, "logits_scale": 2.0}
    with pytest.raises(AssertionError, match="padding masks differ"):
        hf_port.max_difference(a, {**b, "padding": torch.zeros(2, 3, dtype=torch.bool)})


def test_hf_port_randomizes_every_parameter_and_batchnorm_statistic():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.LayerNorm(4))
    before = {name: value.clone() for name, value in model.state_dict().items()}
    hf_port.randomize(model, seed=0)
    after = model.state_dict()
    changed = {name for name in after if not torch.equal(before[name], after[name])}
    assert changed == set(after) - {"1.num_batches_tracked"}
    assert (after["1.running_var"] >= 0.5).all() and (after["1.running_var"] < 1.5).all()


def test_hf_port_inputs_pad_the_second_row_only():
    batch = hf_port.inputs(100)
    assert batch["src"][:, 0].tolist() == [0, 0] and batch["src"][0, -1] == 2 and batch["src"][1, -3] == 2
    assert batch["src"].eq(1).tolist() == [[False] * 9, [False] * 7 + [True, True]]
    assert batch["images"].shape == (2, 3, 256, 256) and batch["prev"][:, 0].tolist() == [0, 0]


# ---- suite_cpu.py -----------------------------------------------------------------------------
def _busy(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_measured_counts_this_processes_cpu_and_its_childrens():
    record = {}
    steps = suite_cpu.measured(record, "call")
    next(steps)
    _busy(0.15)
    subprocess.run([sys.executable, "-S", "-c", "import time\nend = time.process_time() + 0.2\n"
                    "while time.process_time() < end: pass"], check=True)
    with pytest.raises(StopIteration):
        next(steps)
    assert record["call_children_cpu"] >= 0.19  # rounded to milliseconds
    assert record["call_cpu"] >= 0.33 and record["call_cpu"] - record["call_children_cpu"] >= 0.14
    assert record["call_wall"] >= 0.3


def test_a_tests_cpu_is_its_setup_call_and_teardown():
    assert suite_cpu.cpu_of_test({"setup_cpu": 1.0, "call_cpu": 0.25, "teardown_cpu": 0.5, "setup_wall": 9.0,
                                  "call_children_cpu": 0.2}) == 1.75
    assert suite_cpu.cpu_of_test({"call_cpu": 0.25}) == 0.25


def test_suite_cpu_table_is_rendered_from_the_recorded_tests():
    report = json.loads((RESULTS / "suite_cpu_after.json").read_text())
    provenance = Provenance.__new__(Provenance)
    provenance.record = report
    assert suite_cpu.summary_markdown(report, provenance.header()) == (RESULTS / "suite_cpu_after.md").read_text()
