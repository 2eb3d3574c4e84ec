"""``python -m ofa_mue.convert``: OFA's Hugging Face port's checkpoints to fairseq's and back.

The port's key names and shapes come from ``tests/fixtures/hf_state_dict`` (recorded from
the port's own modules by ``benchmarks/hf_port.py manifest``); fairseq OFA's from
``tests/fixtures/ofa_state_dict`` (recorded from OFA's fairseq modules)."""
from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path
from typing import Dict, Tuple

import pytest
import torch
from fairseq import checkpoint_utils

from ofa_mue import convert
from ofa_mue.errors import CheckpointError, DataError
from ofa_mue.models.builders import build_model, numbered_dictionary
from ofa_mue.models.hf_mapping import (
    HF_LAYER_NAMES,
    REBUILT_BUFFERS,
    TIED_EMBEDDINGS,
    rename_layer_key,
    hf_config_from_model,
    model_options_from_hf,
    state_dict_from_hf,
)

FIXTURES = Path(__file__).parent / "fixtures"
ARCHS = ("ofa_tiny", "ofa_medium", "ofa_base", "ofa_large", "ofa_huge")
TINY_CONFIG = {"model_type": "ofa", "vocab_size": 59457, "d_model": 256, "encoder_ffn_dim": 1024,
               "decoder_ffn_dim": 1024, "encoder_layers": 4, "decoder_layers": 4, "encoder_attention_heads": 4,
               "decoder_attention_heads": 4, "resnet_type": "resnet50", "normformer": True, "dropout": 0.1}


SAME_WEIGHTS = [  # read off the two codes' module definitions (the port's OFAEncoderLayer / OFADecoderLayer)
    ("encoder.layers.1.self_attn_mid_layer_norm.weight", "encoder.layers.1.attn_ln.weight"),
    ("encoder.layers.1.ffn_layer_norm.bias", "encoder.layers.1.ffn_layernorm.bias"),
    ("decoder.layers.2.self_attn_mid_layer_norm.weight", "decoder.layers.2.self_attn_ln.weight"),
    ("decoder.layers.2.cross_attn_mid_layer_norm.weight", "decoder.layers.2.cross_attn_ln.weight"),
    ("decoder.layers.2.cross_attn_layer_norm.weight", "decoder.layers.2.encoder_attn_layer_norm.weight"),
    ("decoder.layers.2.cross_attn.q_proj.weight", "decoder.layers.2.encoder_attn.q_proj.weight"),
    ("decoder.layers.2.cross_attn.c_attn", "decoder.layers.2.encoder_attn.c_attn"),
    ("decoder.layers.0.self_attn_layer_norm.bias", "decoder.layers.0.self_attn_layer_norm.bias"),
]


def manifest(folder: str, arch: str) -> Dict[str, Tuple[int, ...]]:
    shapes = {}
    for line in (FIXTURES / folder / f"{arch}.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape = line.split("\t")
            shapes[key] = tuple(int(n) for n in shape.split(",") if n)
    return shapes


@pytest.mark.parametrize("arch", ARCHS)
def test_the_mapping_takes_the_ports_names_to_fairseq_ofas(arch):
    """Both manifests were recorded from the two codes' modules: renaming the port's keys gives
    fairseq OFA's names and shapes, but for fairseq's version buffers and the code index."""
    hf = manifest("hf_state_dict", arch)
    ours = manifest("ofa_state_dict", arch)
    renamed = {rename_layer_key(key, HF_LAYER_NAMES): shape for key, shape in hf.items()}
    assert set(ours) - set(renamed) == {"encoder.version", "decoder.version"}
    assert set(renamed) == set(ours) - {"encoder.version", "decoder.version"}
    differing = {key for key in renamed if renamed[key] != ours[key]}
    assert differing == {"decoder.image_position_idx"}
    assert renamed["decoder.image_position_idx"] == (1025,) and ours["decoder.image_position_idx"] == (1026,)


def port_state_dict(seed: int = 0) -> Dict[str, torch.Tensor]:
    """Random tensors under the port's ofa_tiny names and shapes; buffers hold what the config gives."""
    reference = build_model("ofa_tiny", numbered_dictionary(59457), **model_options_from_hf(TINY_CONFIG))
    own = reference.state_dict()
    generator = torch.Generator().manual_seed(seed)
    embedding = torch.randn(59457, 256, generator=generator)
    state = {}
    for key, shape in manifest("hf_state_dict", "ofa_tiny").items():
        ours = rename_layer_key(key, HF_LAYER_NAMES)
        if key in TIED_EMBEDDINGS:
            state[key] = embedding
        elif ours in REBUILT_BUFFERS:
            state[key] = own[ours][: shape[0]].clone()
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        else:
            state[key] = torch.randn(shape, generator=generator)
    return state


def write_port_folder(folder: Path, state: Dict[str, torch.Tensor], config: Dict = TINY_CONFIG) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    torch.save(state, folder / "pytorch_model.bin")
    return folder


@pytest.fixture(scope="module")
def port_state():
    return port_state_dict()


@pytest.fixture(scope="module")
def converted(port_state, tmp_path_factory):
    """The port folder converted with the command line, and its output path."""
    root = tmp_path_factory.mktemp("convert")
    port = write_port_folder(root / "OFA-tiny", port_state)
    out = root / "ofa_tiny.pt"
    convert.main(["--from-hf", str(port), "--out", str(out), "--task", "caption", "--patch-image-size", "256"])
    return out


def test_from_hf_gives_a_fairseq_checkpoint_with_every_weight_in_place(port_state, converted):
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([str(converted)])
    assert cfg.model.arch == "ofa_tiny" and task.cfg._name == "caption" and task.cfg.patch_image_size == 256
    loaded = models[0].state_dict()
    for key, value in port_state.items():
        ours = rename_layer_key(key, HF_LAYER_NAMES)
        if ours == "decoder.image_position_idx":
            assert torch.equal(loaded[ours][:-1], value)
        else:
            assert torch.equal(loaded[ours], value), key
    for hf_key, our_key in SAME_WEIGHTS:
        assert torch.equal(loaded[our_key], port_state[hf_key]), (hf_key, our_key)
    assert models[0].decoder.add_positions_to_tokens is False  # the port adds no positions to decoder tokens


def test_from_hf_sets_the_checkpoint_up_for_captions_at_480_px_by_default(port_state, tmp_path, capsys):
    """Without --task and --patch-image-size the checkpoint is for captioning at 480 px, OFA's
    fine-tuning size (as --help says)."""
    port = write_port_folder(tmp_path / "OFA-tiny", port_state)
    out = tmp_path / "ofa_tiny.pt"
    convert.main(["--from-hf", str(port), "--out", str(out)])
    task = checkpoint_utils.load_checkpoint_to_cpu(str(out))["cfg"]["task"]
    assert (task["_name"], task["patch_image_size"]) == ("caption", 480)
    assert "ofa_tiny (caption task, 480 px)" in capsys.readouterr().out


def test_to_hf_gives_back_the_ports_names_shapes_and_values(port_state, converted, tmp_path):
    out = tmp_path / "back"
    convert.main(["--to-hf", str(converted), "--out", str(out)])
    back = torch.load(out / "pytorch_model.bin", weights_only=True)
    assert {k: tuple(v.shape) for k, v in back.items()} == manifest("hf_state_dict", "ofa_tiny")
    for key, value in port_state.items():
        assert torch.equal(back[key], value), key
    config = json.loads((out / "config.json").read_text())
    assert {k: config[k] for k in TINY_CONFIG} == TINY_CONFIG
    assert config["entangle_position_embedding"] is False


def test_the_ports_unscaled_embeddings_stay_unscaled_both_ways(converted, tmp_path):
    """The port's scale_embedding (false by default, and in every released config) is fairseq OFA's
    --no-scale-embedding turned round: the converted model multiplies no embedding by sqrt(width),
    and converting back writes scale_embedding false."""
    models, cfg, _ = checkpoint_utils.load_model_ensemble_and_task([str(converted)])
    assert cfg.model.no_scale_embedding is True
    assert (models[0].encoder.embed_scale, models[0].decoder.embed_scale) == (1.0, 1.0)
    convert.main(["--to-hf", str(converted), "--out", str(tmp_path / "back")])
    assert json.loads((tmp_path / "back" / "config.json").read_text())["scale_embedding"] is False


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update({"encoder.layers.0.extra_norm.weight": torch.ones(256)}),
     "cannot map: encoder.layers.0.extra_norm.weight"),
    (lambda s: s.pop("decoder.layers.3.cross_attn_mid_layer_norm.bias"), "missing: decoder.layers.3.cross_attn_ln.bias"),
    (lambda s: s.update({"encoder.image_proj.weight": torch.zeros(256, 512)}),
     r"encoder.image_proj.weight \[256, 512\] \(expected \[256, 1024\]\)"),
    (lambda s: s.update({"decoder.token_rp_bucket": torch.zeros(1024, 1024, dtype=torch.long)}),
     "buffer decoder.token_rp_bucket differs"),
    (lambda s: s.update({"decoder.output_projection.weight": torch.zeros(59457, 256)}), "OFA ties them"),
])
def test_what_cannot_be_mapped_is_refused_by_name(port_state, tmp_path, change, message):
    state = dict(port_state)
    change(state)
    folder = write_port_folder(tmp_path / "bad", state)
    with pytest.raises(CheckpointError, match=message):
        convert.from_hf(str(folder), str(tmp_path / "out.pt"), "caption", 480)
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize("setting, message", [
    ({"attn_scale_factor": 3.0}, "attn_scale_factor 3.0"),
    ({"encoder_layerdrop": 0.1}, "encoder_layerdrop 0.1"),
    ({"resnet_type": "resnet9"}, "resnet_type 'resnet9'"),
    ({"pad_token_id": 0}, "pad_token_id 0"),
])
def test_config_settings_that_cannot_be_reproduced_are_refused(setting, message):
    with pytest.raises(CheckpointError, match=message):
        model_options_from_hf({**TINY_CONFIG, **setting})


def test_port_options_without_a_shape_map_to_fairseq_ofas():
    """The port's ``OFAConfig`` (configuration_ofa.py) defaults ``resnet_type`` to resnet101; its
    attention always has ``c_attn`` (``scale_heads`` defaults to True in ``OFAAttention``) while
    ``normformer`` switches only the mid and FFN layer norms; its ``gelu_new`` is the tanh
    approximation, fairseq's ``gelu_accurate``, not the exact ``gelu``."""
    config = {key: value for key, value in TINY_CONFIG.items() if key != "resnet_type"}
    assert model_options_from_hf(config)["resnet_type"] == "resnet101"
    plain = model_options_from_hf({**TINY_CONFIG, "normformer": False, "activation_function": "gelu_new"})
    assert (plain["scale_attn"], plain["scale_fc"], plain["scale_heads"]) == (False, False, True)
    assert plain["activation_fn"] == "gelu_accurate"


def test_to_hf_refuses_what_the_port_cannot_run(tmp_path):
    model = build_model("ofa_demo", numbered_dictionary(100), decompose_modalities=True)
    with pytest.raises(CheckpointError, match="decompose_modalities.*resnet_base_channels 16"):
        hf_config_from_model(model.args, 100)


def test_from_hf_reads_safetensors_weights_as_the_bin_file(port_state, converted, tmp_path):
    """A port folder with ``model.safetensors`` (today's hub format) converts to the same checkpoint
    as one with ``pytorch_model.bin``; the safetensors file is read when both are there."""
    from safetensors.torch import save_file

    port = tmp_path / "OFA-tiny"
    port.mkdir()
    (port / "config.json").write_text(json.dumps(TINY_CONFIG))
    # as transformers saves it: one copy of the tied token embedding (safetensors refuses shared tensors)
    deduplicated = {key: value for key, value in port_state.items()
                    if key not in ("decoder.embed_tokens.weight", "decoder.output_projection.weight")}
    save_file(deduplicated, str(port / "model.safetensors"))
    torch.save({}, port / "pytorch_model.bin")  # an empty .bin beside it: not the one read
    out = tmp_path / "ofa_tiny.pt"
    convert.main(["--from-hf", str(port), "--out", str(out), "--task", "caption", "--patch-image-size", "256"])
    ours = checkpoint_utils.load_checkpoint_to_cpu(str(out))["model"]
    expected = checkpoint_utils.load_checkpoint_to_cpu(str(converted))["model"]
    assert ours.keys() == expected.keys() and all(torch.equal(ours[k], expected[k]) for k in expected)


@pytest.mark.parametrize("setting, message", [
    ({"decoder_normalize_before": False}, "normalize_before false"),
    ({"encoder_normalize_before": False}, "normalize_before false"),
    ({"share_decoder_input_output_embed": False}, "OFA ties its embeddings"),
    ({"activation_function": "silu"}, "activation_function 'silu'"),
], ids=["post-ln-decoder", "post-ln-encoder", "untied-embeddings", "silu"])
def test_one_sided_or_untied_port_settings_are_refused(setting, message):
    """A post-LN decoder beside a pre-LN encoder would run as pre-LN here: refused, as untied embeddings."""
    with pytest.raises(CheckpointError, match=message):
        model_options_from_hf({**TINY_CONFIG, **setting})


def test_port_options_of_differing_encoder_and_decoder_go_to_their_own_side_and_back():
    """A config whose encoder and decoder differ in FFN width, depth and heads: each maps to its
    own side's option, and the config written back from those options is the same config."""
    config = {**TINY_CONFIG, "encoder_ffn_dim": 1024, "decoder_ffn_dim": 512, "encoder_layers": 6,
              "decoder_layers": 3, "encoder_attention_heads": 8, "decoder_attention_heads": 4,
              "max_position_embeddings": 512, "activation_function": "gelu_new", "normformer": False,
              "token_bucket_size": 128, "image_bucket_size": 21, "dropout": 0.2, "attention_dropout": 0.05,
              "activation_dropout": 0.15, "resnet_type": "resnet152", "entangle_position_embedding": True}
    options = model_options_from_hf(config)
    assert (options["encoder_ffn_embed_dim"], options["decoder_ffn_embed_dim"]) == (1024, 512)
    assert (options["encoder_layers"], options["decoder_layers"]) == (6, 3)
    assert (options["max_source_positions"], options["max_target_positions"]) == (512, 512)
    assert options["disable_entangle"] is False and options["resnet_type"] == "resnet152"
    back = hf_config_from_model(Namespace(**options), 59457)
    assert {key: back[key] for key in config} == config


def test_the_ports_weights_of_a_task_head_model_lose_their_model_prefix():
    """The port's task-head classes hold the model under ``model.``: the keys map as without it,
    and the rebuilt buffers come from the reference model."""
    embedding = torch.arange(12.0).reshape(6, 2)
    reference = {key: torch.zeros(6, 2) for key in TIED_EMBEDDINGS}
    reference.update({key: torch.full((3,), 7) for key in REBUILT_BUFFERS})
    reference.update({"encoder.layers.0.attn_ln.weight": torch.zeros(2),
                      "decoder.layers.1.encoder_attn.q_proj.weight": torch.zeros(2, 2)})
    port = {"encoder.embed_tokens.weight": embedding, "decoder.embed_tokens.weight": embedding,
            "encoder.layers.0.self_attn_mid_layer_norm.weight": torch.tensor([1.0, 2.0]),
            "decoder.layers.1.cross_attn.q_proj.weight": torch.eye(2)}
    plain = state_dict_from_hf(port, reference)
    prefixed = state_dict_from_hf({f"model.{key}": value for key, value in port.items()}, reference)
    for mapped in (plain, prefixed):
        assert mapped.keys() == reference.keys()
        assert torch.equal(mapped["encoder.layers.0.attn_ln.weight"], torch.tensor([1.0, 2.0]))
        assert torch.equal(mapped["decoder.layers.1.encoder_attn.q_proj.weight"], torch.eye(2))
        assert all(torch.equal(mapped[key], embedding) for key in TIED_EMBEDDINGS)
        assert all(torch.equal(mapped[key], reference[key]) for key in REBUILT_BUFFERS)


@pytest.mark.parametrize("change, message", [
    ({"scale_resids": True}, "scale_resids"),
    ({"scale_fc": False}, "scale_attn, scale_fc and scale_heads"),
    ({"disable_entangle": False}, "disable_entangle must be the opposite"),
    ({"max_target_positions": 256}, "max_source_positions and max_target_positions differ"),
    ({"attn_scale_factor": 1.0}, "attn_scale_factor 1.0"),
    ({"decoder_embed_dim": 128}, "encoder and decoder embedding dimensions differ"),
    ({"activation_fn": "tanh"}, "activation_fn 'tanh'"),
    ({"resnet_type": "resnet:1,1,1"}, "resnet_type 'resnet:1,1,1'"),
], ids=["scale-resids", "scale-attn-without-scale-fc", "entangled-decoder-positions", "position-sizes", "attn-scale",
        "embedding-widths", "activation", "resnet-blocks"])
def test_to_hf_refuses_models_the_port_would_run_otherwise(change, message):
    """Options the port's config cannot say (it would silently run another model): a fairseq OFA
    model trained without --disable-entangle adds positions to its decoder tokens, which the port
    does only with entangle_position_embedding, and then to the encoder's too."""
    options = model_options_from_hf(TINY_CONFIG)
    hf_config_from_model(Namespace(**options), 59457)  # as converted: expressible
    with pytest.raises(CheckpointError, match=message):
        hf_config_from_model(Namespace(**{**options, **change}), 59457)


def test_from_hf_refuses_a_vocabulary_other_than_ofas_dictionary(tmp_path):
    """A port config whose vocab_size is not the size of OFA's dictionary is refused by name, before
    any weights are read: its token ids would not be the dictionary's."""
    port = write_port_folder(tmp_path / "OFA-other", {}, {**TINY_CONFIG, "vocab_size": 59456})
    with pytest.raises(CheckpointError, match="vocab_size 59456, but OFA's dictionary has 59457"):
        convert.from_hf(str(port), str(tmp_path / "out.pt"), "caption", 480)
    assert not (tmp_path / "out.pt").exists()


def test_to_hf_refuses_a_checkpoint_of_another_architecture(tmp_path):
    """A fairseq checkpoint of a non-OFA architecture is refused by name, not converted with OFA's defaults."""
    path = tmp_path / "transformer.pt"
    torch.save({"cfg": {"model": {"arch": "transformer", "_name": "transformer"}},
                "model": {"encoder.embed_tokens.weight": torch.zeros(4, 2)}}, path)
    with pytest.raises(CheckpointError, match="architecture 'transformer' is not an OFA one"):
        convert.to_hf(str(path), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("broken, content, message", [
    ("config.json", "{not json", "config.json: not valid JSON"),
    ("pytorch_model.bin", "not a pickle", "pytorch_model.bin: not a state dict of tensors"),
], ids=["config-not-json", "weights-not-a-state-dict"])
def test_from_hf_refuses_a_port_folder_it_cannot_read_by_file(tmp_path, broken, content, message):
    port = write_port_folder(tmp_path / "OFA-broken", {})
    (port / broken).write_text(content)
    with pytest.raises(DataError, match=message):
        convert.read_hf_folder(str(port))


def test_the_ports_keys_keep_a_model_prefix_that_not_all_of_them_have():
    """Only a state dict whose every key starts with ``model.`` is a task-head model's: a key of a
    plain model that happens to start so is not cut, and is then refused as unknown."""
    from ofa_mue.models.hf_mapping import _strip_model_prefix

    state = {"model.extra.weight": torch.zeros(1), "encoder.embed_tokens.weight": torch.zeros(1)}
    assert _strip_model_prefix(state).keys() == state.keys()
