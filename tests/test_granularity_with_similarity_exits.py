"""Exit granularities with a similarity rule, which looks at each layer's input and output (the
position rules of tests/test_exit_granularity.py do not): 'auto' running a layer densely keeps
each token's exit layer (a stopped token's state is unchanged, so the rule would see it stop
again), and 'step' stops a call at the deepest layer its tokens choose by their own similarities."""
from __future__ import annotations

import torch

from ofa_mue.core.early_exit import ExitSession
from ofa_mue.core.exit_granularity import ExitGranularity
from ofa_mue.core.exit_policy import TokenSimilarityExit
from test_early_exit_inference import VOCAB, _batch, model  # noqa: F401  (the same small model)
from test_exit_granularity import _decode


def _tokens_and_rule():
    """Three random 6-token prefixes and a similarity rule that stops them at mixed layers."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(4, VOCAB, (3, 6), generator=generator), TokenSimilarityExit(theta=0.85)


def test_dense_layers_keep_the_exit_layers_of_tokens_that_stopped_before(model):
    net, _ = model
    prev, rule = _tokens_and_rule()
    token_logits, token_extra = _decode(net, prev, ExitGranularity("token"), rule=rule)
    layers = token_extra["exit_layers"]
    assert len(layers.unique()) > 1 and int(layers.min()) < net.decoder.num_layers - 1, "mixed, early exits"
    dense_logits, dense_extra = _decode(net, prev, ExitGranularity("auto", launch_flops=1e30), rule=rule)
    assert torch.equal(dense_extra["exit_layers"], layers)
    torch.testing.assert_close(dense_logits, token_logits, atol=1e-5, rtol=1e-5)


def test_step_exits_stop_at_the_deepest_layer_the_similarities_choose(model):
    net, _ = model
    prev, rule = _tokens_and_rule()
    _, token_extra = _decode(net, prev, ExitGranularity("token"), rule=rule)
    deepest = int(token_extra["exit_layers"].max())
    assert 1 < deepest < net.decoder.num_layers, "the tokens choose layers in the middle of the decoder"
    _, step_extra = _decode(net, prev, ExitGranularity("step"), rule=rule)
    assert (step_extra["exit_layers"] == deepest).all()


def test_a_padded_teacher_forced_pass_records_only_its_tokens(model):
    """The per-sample records of a decoder call (tokens, layers run) count no padding position."""
    net, dictionary = model
    generator = torch.Generator().manual_seed(0)
    prev = torch.randint(4, VOCAB, (3, 6), generator=generator)
    prev[1, 4:] = dictionary.pad()
    prev[2, 2:] = dictionary.pad()
    session = ExitSession(decoder_rule=TokenSimilarityExit(theta=0.85))
    with torch.no_grad():
        _, extra = net.decoder(prev, encoder_out=net.encoder(**_batch(3), exit_session=session))
    real = prev.ne(dictionary.pad())
    examples = session.example_layers()
    assert [e.decoder_tokens for e in examples] == real.sum(1).tolist() == [6, 4, 2]
    assert [e.decoder_layer_sum for e in examples] == (extra["exit_layers"] * real).sum(1).tolist()
