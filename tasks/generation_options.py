"""fairseq's generation options that this project's generators cannot honour, refused in one line.

fairseq's generation parser (``fairseq-generate``, ``python -m ofa_mue.evaluate``) takes options
of every fairseq generator, and its ``build_generator`` reads the few it needs with defaults, so
an option no generator here reads would be ignored and one that fairseq's beam search reads
wrongly would end in a traceback. The tasks refuse both (:func:`refuse_unimplemented_generation`,
:func:`refuse_unreachable_min_len`), and so do the JSON options of the caption task's own
generators (``--eval-args``, ``--scst-args``: :func:`generation_namespace`).
"""
import difflib
import json
from argparse import Namespace
from typing import Any, Dict, Tuple

from fairseq.dataclass.configs import GenerationConfig

from ofa_mue.errors import ConfigError
from ofa_mue.one_line_errors import REPLACE_UNK_REFUSAL

UNIMPLEMENTED_GENERATION_OPTIONS: Dict[str, Tuple[str, Any]] = {
    "iter_decode_eos_penalty": ("--iter-decode-eos-penalty", 0.0), "iter_decode_max_iter": ("--iter-decode-max-iter", 10),
    "iter_decode_force_max_iter": ("--iter-decode-force-max-iter", False),
    "iter_decode_with_beam": ("--iter-decode-with-beam", 1),
    "iter_decode_with_external_reranker": ("--iter-decode-with-external-reranker", False),
    "retain_iter_history": ("--retain-iter-history", False), "print_step": ("--print-step", False),
    "decoding_format": ("--decoding-format", None),
    "beam_mt": ("--beam-mt", 0), "max_len_a_mt": ("--max-len-a-mt", 0), "max_len_b_mt": ("--max-len-b-mt", 200),
    "lenpen_mt": ("--lenpen-mt", 1), "eos_token": ("--eos-token", None),
    "no_beamable_mm": ("--no-beamable-mm", False), "no_early_stop": ("--no-early-stop", False),
    "retain_dropout_modules": ("--retain-dropout-modules", None),
}
"""fairseq generation options that only fairseq's other generators read, each with the value that
changes nothing: iterative refinement's (and ``--print-step``/``--retain-iter-history``, which
fairseq-generate prints from its hypotheses and fails on others'), two-pass speech translation's
(``--*-mt``, ``--eos-token``), convolutional models' ``--no-beamable-mm``; ``--no-early-stop``,
which fairseq 0.12 reads nowhere, and ``--retain-dropout-modules``, read only with
``--retain-dropout`` (refused: :meth:`~ofa_mue.tasks.ofa_task.OFATask.build_generator`)."""

JSON_GENERATION_OPTIONS: Tuple[str, ...] = (
    "beam", "max_len_a", "max_len_b", "min_len", "lenpen", "unkpen", "unnormalized", "temperature",
    "no_repeat_ngram_size", "match_source_len", "sampling", "sampling_topk", "sampling_topp", "diverse_beam_groups",
    "diverse_beam_strength", "diversity_rate",
)
"""The keys of ``--eval-args`` / ``--scst-args``: the generation options fairseq's ``build_generator``
reads into the generator (OFA's recipes pass ``beam``, ``max_len_b`` and ``no_repeat_ngram_size``).
Its other options apply to fairseq-generate's loop (``nbest``, ``prefix_size``, ``lm_path``, ...) or
to other generators, never to these captions."""


def refuse_generation_options(generation_cfg: Any, options: Dict[str, Tuple[str, Any]], reason: str) -> None:
    """A :class:`ConfigError` naming every option of ``options`` (``{field: (flag, the value that
    changes nothing)}``) that ``generation_cfg`` (fairseq's generation settings) sets, then ``reason``."""
    given = [flag for name, (flag, neutral) in options.items()
             if getattr(generation_cfg, name, neutral) not in (neutral, None)]
    if given:
        raise ConfigError(f"{', '.join(given)} {reason}")


def refuse_options_without_their_switch(args: Any) -> None:
    """A :class:`ConfigError` naming each generation option ``args`` sets that applies only with
    another one it does not set (fairseq's generator would ignore it, or stop on an assertion)."""
    sampling = bool(getattr(args, "sampling", False))
    pairs = (
        ("--lm-weight", getattr(args, "lm_weight", 0.0) != 0.0, "--lm-path", getattr(args, "lm_path", None) is not None),
        ("--diverse-beam-strength", getattr(args, "diverse_beam_strength", 0.5) != 0.5, "--diverse-beam-groups",
         getattr(args, "diverse_beam_groups", -1) > 0),
        ("--sampling-topk", getattr(args, "sampling_topk", -1) >= 0, "--sampling", sampling),
        ("--sampling-topp", getattr(args, "sampling_topp", -1.0) >= 0, "--sampling", sampling),
    )
    alone = [f"{flag} only applies with {switch}" for flag, given, switch, switched in pairs if given and not switched]
    if alone:
        raise ConfigError("; ".join(alone))


def refuse_other_searches(args: Any) -> None:
    """A :class:`ConfigError` naming the options of ``args`` that choose fairseq's search when it sets
    more than one: fairseq's ``build_generator`` runs the first of them (in this order) and raises a
    ValueError that names none for most pairs (it ignores a ``--diversity-rate`` from -1 to 0 after another)."""
    groups, rate = getattr(args, "diverse_beam_groups", -1), getattr(args, "diversity_rate", -1.0)
    choices = (
        ("--sampling", "sampling", bool(getattr(args, "sampling", False))),
        (f"--diverse-beam-groups {groups}", "diverse beam search", groups > 0),
        ("--match-source-len", "outputs as long as the source", bool(getattr(args, "match_source_len", False))),
        (f"--diversity-rate {rate}", "diverse siblings search", rate > -1),
    )
    given = [(flag, search) for flag, search, chosen in choices if chosen]
    if len(given) > 1:
        raise ConfigError(f"{', '.join(flag for flag, _ in given)} choose different searches "
                          f"({', '.join(search for _, search in given)}), and the generator runs one: keep one of them")


def refuse_unimplemented_generation(args: Any) -> None:
    """A :class:`ConfigError` for a generation option of ``args`` that this project's generator
    (fairseq's beam search) cannot honour: :data:`UNIMPLEMENTED_GENERATION_OPTIONS`, ``--constraints``,
    ``--replace-unk`` (given with ``--dataset-impl raw``, past fairseq-generate's assertion), an option without the one it applies with (:func:`refuse_options_without_their_switch`) or
    options that choose different searches (:func:`refuse_other_searches`)."""
    refuse_generation_options(args, UNIMPLEMENTED_GENERATION_OPTIONS,
                              "cannot apply here: options of fairseq's other generators (iterative refinement, "
                              "speech translation, convolutional models), which this task's beam search does not "
                              "read (--retain-dropout-modules: only with --retain-dropout, which is refused)")
    if getattr(args, "constraints", None):
        raise ConfigError("--constraints needs lexical constraints in every row, which this task's data does not "
                          "hold (fairseq's constrained search would fail on the first batch)")
    if getattr(args, "replace_unk", None):  # with --dataset-impl raw, past fairseq-generate's own assertion
        raise ConfigError(REPLACE_UNK_REFUSAL)
    refuse_options_without_their_switch(args)
    refuse_other_searches(args)


def refuse_batch_dependent_horizon(args: Any, policy: Any) -> None:
    """A :class:`ConfigError` when a decaying decoder exit threshold (whose horizon ``N`` is
    ``--max-len-b``, the longest generation) meets ``--max-len-a`` or ``--match-source-len``:
    with either the length limit follows the batch's longest source, so ``N`` would not be it."""
    if not getattr(policy, "decoder_decays", False):
        return
    max_len_a = getattr(args, "max_len_a", 0)
    given = [f"--max-len-a {max_len_a:g}"] if max_len_a != 0 else []
    given += ["--match-source-len"] if getattr(args, "match_source_len", False) else []
    if given:
        raise ConfigError(f"{' and '.join(given)} with a decaying decoder exit threshold (--decoder-exit-beta below "
                          f"1): the decay's horizon N is --max-len-b, the longest generation, and with "
                          f"{' and '.join(given)} the length limit depends on the batch's longest source; give "
                          f"--max-len-a 0 and no --match-source-len, or a constant threshold (--decoder-exit-beta 1)")


def refuse_unreachable_min_len(args: Any) -> None:
    """A :class:`ConfigError` when ``--min-len`` is above ``--max-len-b`` with ``--max-len-a 0`` and
    no ``--match-source-len``, where every output ends by ``--max-len-b`` tokens: fairseq's
    generator would stop on its assertion at the first batch."""
    min_len, max_len_b = getattr(args, "min_len", 1), getattr(args, "max_len_b", 200)
    if getattr(args, "max_len_a", 0) == 0 and not getattr(args, "match_source_len", False) and min_len > max_len_b:
        raise ConfigError(f"--min-len {min_len} is above --max-len-b {max_len_b}, the most tokens an output may have "
                          f"(with --max-len-a 0): lower --min-len or raise --max-len-b")


def _json_value_fits(key: str, value: Any) -> bool:
    """Whether ``value`` has the type of fairseq's generation option ``key`` (an int is a float)."""
    kind = GenerationConfig.__dataclass_fields__[key].type
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    return isinstance(value, int) if kind is int else isinstance(value, (int, float))


def generation_namespace(flag: str, options_json: str) -> Namespace:
    """The JSON generation options of ``flag`` as the namespace fairseq's ``build_generator`` reads
    (what it does not set takes fairseq's defaults, as in OFA). A key that is not one of
    :data:`JSON_GENERATION_OPTIONS`, a value of another type, or options the generator cannot
    honour together are a :class:`ConfigError` naming ``flag``."""
    try:
        options = json.loads(options_json)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{flag} must be a JSON object of generation options, got {options_json!r} ({error})") \
            from None
    if not isinstance(options, dict):
        raise ConfigError(f"{flag} must be a JSON object of generation options, got {options_json!r}")
    accepted = f"accepted keys: {', '.join(JSON_GENERATION_OPTIONS)}"
    for key, value in options.items():
        if key not in JSON_GENERATION_OPTIONS:
            why = ("cannot apply to its generator (fairseq-generate's or another generator's option)"
                   if key in GenerationConfig.__dataclass_fields__ else "is not a generation option")
            close = difflib.get_close_matches(key.replace("-", "_"), JSON_GENERATION_OPTIONS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{flag}: key {key!r} {why}{hint}; {accepted}")
        if not _json_value_fits(key, value):
            kind = GenerationConfig.__dataclass_fields__[key].type
            wanted = "true or false" if kind is bool else "a whole number" if kind is int else "a number"
            raise ConfigError(f"{flag}: key {key!r} must be {wanted}, got {json.dumps(value)}")
    namespace = Namespace(**options)
    try:
        refuse_options_without_their_switch(namespace)
        refuse_other_searches(namespace)
        refuse_unreachable_min_len(namespace)
    except ConfigError as error:
        raise ConfigError(f"{flag} {options_json}: {error}") from None
    return namespace
