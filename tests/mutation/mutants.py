"""The mutation check's catalogue: defects that early-exit implementations are known for,
each written as exact source replacements (a *mutant*), and the tests that must catch it.

``tests/mutation/run_mutants.py`` applies each mutant to a temporary copy of the tree and
requires every test it names to fail there (and to pass on the unmutated copy);
``docs/MUTATION_CHECK.md`` holds the table :func:`markdown_table` renders. An edit whose
original text is not found exactly once is an error (:class:`StaleMutant`), never a skip:
whoever changes the code a mutant targets re-targets the mutant (same defect, new text).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Tuple


@dataclass(frozen=True)
class Edit:
    """Replace the one occurrence of ``original`` in ``path`` (relative to the repository root)."""

    path: str
    original: str
    replacement: str


@dataclass(frozen=True)
class Mutant:
    """A named defect: its edits, and the test node ids that must each fail on it."""

    name: str
    defect: str
    edits: Tuple[Edit, ...]
    caught_by: Tuple[str, ...]


DOCS = "docs/MUTATION_CHECK.md"
TABLE_START, TABLE_END = "<!-- mutants table: start -->\n", "<!-- mutants table: end -->\n"


class StaleMutant(RuntimeError):
    """A mutant's original text is not (or not exactly once) in the file it targets."""


MIXED = "tests/test_mixed_exit_decisions.py::"
INFERENCE = "tests/test_early_exit_inference.py::"
POLICY = "tests/test_exit_policy_and_time_reduction.py::"
DECOMPOSED = "tests/test_decomposed_encoder.py::"
RETENTION = "tests/test_retention_choice.py::"
RISK = "tests/test_risk_control.py::"
FLOPS = "tests/test_flops.py::"
ENVELOPE = "tests/test_reproduce.py::test_plotted_envelope_line_is_the_envelope"
DEMO_CHECKS = "tests/test_demo_summary_checks.py::"
REPLACED_OTHER = "tests/test_replaced_images.py::test_other_gives_each_row_a_different_rows_image_and_keeps_the_text"
ADAPTIVITY = "tests/test_adaptivity_bound.py::"
QUESTIONS = "tests/test_question_stage.py::"
OFA_CRITERION = "tests/test_ofa_criterion.py::"
LAYERWISE = "tests/test_layerwise_criterion.py::"
SNLI_DATA = "tests/test_data_snli_ve.py::"
EVAL_HABITS = "tests/test_ofa_eval_habits.py::"
GENERATION_HABITS = "tests/test_ofa_habits_generation.py::"
ARCHITECTURE = "tests/test_model_architecture.py::"
SCST = "tests/test_scst.py::"
TEXT = "tests/test_data_text.py::"
IMAGES = "tests/test_data_images.py::"
CAPTION_METRICS = "tests/test_caption_metrics.py::"
CAPTION_REFERENCES = "tests/test_caption_references.py::"
SATURATION = "tests/test_saturation.py::"
SWEEP_TABLES = "tests/test_sweep_tables_and_figures.py::"
ATTENTION = "tests/test_attention.py::"
DEMO_DATA = "tests/test_demo_data.py::"
DEMO_PRETRAIN = "tests/test_demo_pretrain.py::"
DEMO_FAMILIES = "tests/test_demo_families.py::"
GUARANTEE = "tests/test_guarantee_check.py::"
GUARANTEE_SCORED = (GUARANTEE + "test_each_calibration_is_scored_on_rows_it_did_not_calibrate_on_and_counted_over_"
                    "every_calibration")
MEASUREMENT = "tests/test_measurement.py::"
TIME_SPLITS = MEASUREMENT + "test_time_splits_are_per_part_medians_of_interleaved_passes_with_the_rest_as_other"
SPEED_MEASURE = (MEASUREMENT + "test_checkpoint_speed_warms_up_then_reports_medians_of_paired_ratios_against_the_"
                 "full_model")
CALIBRATION_ROWS = ("tests/test_calibration_rows.py::test_the_default_run_reproduces_the_committed_table_the_"
                    "readme_quotes")
LAYERWISE_VS_PLAIN = "tests/test_layerwise_vs_plain.py::"
EXIT_SIGNAL = "tests/test_exit_signal_benchmark.py::"
SNLI_SCORING = "tests/test_snli_ve_task_scoring.py::"
OFA_MODEL_HABITS = "tests/test_ofa_habits_model.py::"
EXIT_SIGNAL_REPORT = EXIT_SIGNAL + "test_each_layers_row_has_its_own_shares_means_and_signals_oriented_towards_settled"
FIXED_DEPTH = "tests/test_fixed_depth_benchmark.py::"
FIXED_DEPTH_JOB = FIXED_DEPTH + "test_depths_are_chosen_on_the_validation_split_and_scored_on_the_test_rows"
FIXED_DEPTH_TABLES = FIXED_DEPTH + "test_the_tables_put_the_envelope_and_the_valid_choice_in_their_own_columns"
ADAPTIVITY_BOUND_LEVELS = ADAPTIVITY + "test_the_bound_compares_capped_mue_static_and_oracle_at_each_level"
ADAPTIVITY_SUMMARY_ROW = (ADAPTIVITY + "test_the_benchmarks_summary_row_reads_each_kept_share_and_averages_over_"
                          "levels_only")
LOSSLESS_FIGURES = "tests/test_lossless_benchmark_figures.py::"
LOSSLESS_REDUCTION = (LOSSLESS_FIGURES + "test_lossless_reduction_is_one_minus_the_median_paired_ratio_to_the_full_"
                      "model_warm_up_untimed")
LOSSLESS_SPLIT = (LOSSLESS_FIGURES + "test_lossless_time_split_costs_draft_and_verification_calls_against_one_full_"
                  "decoder_step")
LOSSLESS_MARKDOWN = LOSSLESS_FIGURES + "test_lossless_markdown_row_puts_each_figure_in_its_column"
SPEED_BENCHMARK = "tests/test_speed_benchmark.py::"
DEPTHS_RUN = SPEED_BENCHMARK + "test_depths_mode_fits_time_against_layer_count"
DEPTHS_FIT = SPEED_BENCHMARK + "test_depths_fit_is_least_squares_of_measured_share_on_expected_share"
DEPTH_SETTINGS = SPEED_BENCHMARK + "test_depth_fractions_round_up_to_whole_layers_of_each_stream_and_the_decoder"
CAPTION_REPLAY_RUNNER = (SPEED_BENCHMARK + "test_caption_replay_runner_decodes_exactly_the_recorded_decoder_calls_of_"
                         "each_batch")
NEVER_FIRING = SPEED_BENCHMARK + "test_never_firing_arm_runs_mues_rules_and_cannot_fire"
REPLAY_IMPOSES = SPEED_BENCHMARK + "test_replay_imposes_the_recorded_exits"
LOSSLESS_REPLAY = "tests/test_lossless_replay.py::test_the_replay_drafts_and_accepts_exactly_what_was_recorded"
LOSSLESS_REPLAY_REFUSED = "tests/test_lossless_replay.py::test_a_replay_off_the_recording_is_refused"
LOSSLESS_REPLAY_PREFIXES = ("tests/test_lossless_replay.py::test_the_full_arms_prefixes_are_the_recorded_captions_with_"
                            "their_end_of_sentence_padded")
REPLAY_TURNS = SPEED_BENCHMARK + "test_replay_runs_mues_tests_as_often_as_recorded_and_replays_each_batch_in_turn"
RECIPES = "tests/test_training_recipe_benchmarks.py::"
RECIPE_TABLES = RECIPES + "test_committed_tables_are_rendered_from_the_committed_results"
QUESTION_UPDATES_ARM = (RECIPES + "test_question_updates_arm_trains_from_its_seeds_caption_model_with_its_seed_beside_"
                        "that_seeds_demo_model")
SNLI_SETTINGS_ARM = RECIPES + "test_snli_settings_each_arm_trains_from_its_seeds_question_stage_with_its_own_settings"
SNLI_SETTINGS_MEAN = RECIPES + "test_snli_settings_mean_row_averages_each_arm_over_the_seeds"
GROUNDING_TRAIN = RECIPES + "test_grounding_stage_train_passes_each_setting_to_fairseq_train"
GROUNDING_ARM = (RECIPES + "test_grounding_stage_arms_differ_only_in_the_grounding_loss_and_snli_ve_starts_from_the_"
                 "grounding_model")
GROUNDING_SCORE = RECIPES + "test_grounding_stage_scores_the_split_it_names_and_each_image_replacement"
GROUNDING_LOOKUP_MAIN = (RECIPES + "test_grounding_lookup_reports_each_settings_first_and_last_layer_and_chance_among_"
                         "its_objects")
PARITY_SUITE = "tests/test_parity_and_suite_benchmarks.py::"
PARITY_FIGURES = PARITY_SUITE + "test_parity_reports_the_largest_differences_between_the_reference_and_ours"
HF_DIFFERENCE = PARITY_SUITE + "test_hf_conversion_difference_is_the_largest_over_positions_that_are_not_padding"
PARITY_ROWS = PARITY_SUITE + "test_parity_rows_compare_the_same_random_weights_in_the_precision_each_row_names"
EDGES = "tests/test_policy_and_calibration_edges.py::"
ENCODER_INPUTS = "tests/test_encoder_inputs.py::"
SIMILARITY_GRANULARITY = "tests/test_granularity_with_similarity_exits.py::"
DECODER_REFERENCE = ("tests/test_ofa_layers.py::test_decoder_computes_ofas_embeddings_position_biases_and_output_"
                     "projection[entangled]")
DECODER_REFERENCE_DISENTANGLED = DECODER_REFERENCE.replace("[entangled]", "[disentangled]")
USER_PATHS = "tests/test_new_user_paths.py::"
CONVERT = "tests/test_convert.py::"
SUMMARY_ROWS = (POLICY + "test_summary_means_each_stream_over_the_examples_that_have_it_and_rows_give_the_main_"
                "figure")
SESSION_ENSEMBLE = INFERENCE + "test_an_ensemble_whose_models_ran_other_encoder_depths_or_tests_is_refused"
STEP_STICKS = "tests/test_exit_granularity.py::test_a_step_tokens_choice_to_stop_sticks_and_padding_never_counts"
GRID_EVALUATION = RETENTION + "test_the_grid_evaluates_each_missing_configuration_once_with_its_own_thresholds"
TABLE_KEY = "tests/test_exit_granularity.py::test_a_calibration_tables_key_leaves_out_the_exit_options_the_grid_sets"
BOOKKEEPING = "tests/test_evaluation_bookkeeping.py::"

MUTANTS: Tuple[Mutant, ...] = (
    Mutant(
        "batch_wide_encoder_exit",
        "one exit decision per encoder stream for the whole batch: a sample stops only when every sample "
        "of the batch would (the published MuE code's behaviour)",
        (Edit("models/encoder.py",
              "        stop = exit_rule.should_exit(index, x_in, x_out, pad_in)\n",
              "        stop = exit_rule.should_exit(index, x_in, x_out, pad_in).all().expand(x_in.size(0))\n"),),
        (MIXED + "test_samples_of_one_stream_stop_at_different_layers_as_each_would_alone",
         MIXED + "test_beams_of_one_sample_stop_at_different_layers_as_the_sample_would_alone"),
    ),
    Mutant(
        "batch_wide_decoder_exit",
        "one exit decision per decoder step for all rows and beams: a token stops only when every token "
        "of the step would",
        (Edit("models/decoder.py",
              "        stop = rule.should_exit(index, x_in, x_out, positions, token_ids)\n",
              "        stop = rule.should_exit(index, x_in, x_out, positions, token_ids)"
              ".all().expand_as(positions)\n"),),
        (MIXED + "test_tokens_of_one_step_stop_at_different_layers_with_their_own_states",
         MIXED + "test_beams_of_one_sample_stop_at_different_layers_as_the_sample_would_alone",
         INFERENCE + "test_similarity_exits_decide_per_token_and_stay_consistent"),
    ),
    Mutant(
        "exited_tokens_get_no_keys_values",
        "an exited decoder token gets no keys/values at the layers it skips (zeros in its cache slots), as "
        "when the published code's copy into skipped layers is dead code",
        (Edit("models/layers.py",
              "            key, value = self.self_attn.project_kv(h)\n"
              "            new_key_value: Optional[tuple[Tensor, Tensor]] = (key, value)\n",
              "            key, value = (t if active is None else t * active[:, None, :, None]\n"
              "                          for t in self.self_attn.project_kv(h))\n"
              "            new_key_value: Optional[tuple[Tensor, Tensor]] = (key, value)\n"),
         Edit("models/decoder.py",
              "                new_kv = layer.self_key_value(x) if cache is not None else None\n",
              "                new_kv = tuple(t.zero_() for t in layer.self_key_value(x)) "
              "if cache is not None else None\n")),
        # Not test_similarity_exits_decide_per_token_and_stay_consistent: since exits run through
        # the same masked layer code in a full pass as in incremental decoding, this mutant zeroes
        # the skipped keys/values in both, consistently, and that test asserts only consistency.
        (INFERENCE + "test_incremental_decoding_with_exits_matches_recomputing_the_prefix",),
    ),
    Mutant(
        "exited_tokens_get_copied_keys_values",
        "once every token of a step has exited, each skipped layer gets the exit layer's cached keys/values "
        "copied instead of keys/values it projects from the token's state",
        (Edit("models/decoder.py",
              "                new_kv = layer.self_key_value(x) if cache is not None else None\n",
              "                new_kv = tuple(t[:, :, -x.size(1):] for t in cache[\"self_kv\"][index - 1]) "
              "if cache is not None else None\n"),),
        (INFERENCE + "test_incremental_decoding_with_exits_matches_recomputing_the_prefix",),
    ),
    Mutant(
        "image_relative_bias_dropped",
        "the image stream's 2-D relative position bias dropped in the decomposed encoder pass (as in the "
        "published code)",
        (Edit("models/encoder.py",
              "            return lambda layer: absolute + self.image_relative_bias(layer, buckets)\n",
              "            return lambda layer: absolute\n"),),
        (DECOMPOSED + "test_text_part_equals_the_text_alone_and_image_part_the_image_alone",
         DECOMPOSED + "test_image_relative_position_bias_is_used"),
    ),
    Mutant(
        "decay_horizon_from_batch",
        "the decaying decoder threshold's horizon N taken from the batch (its longest source) instead of "
        "--max-len-b",
        (Edit("ofa_mue/core/early_exit_generator.py",
              "        horizon = self.max_len_b if self.max_len_b > 0 else self.max_len\n",
              "        horizon = sample[\"net_input\"][\"src_tokens\"].size(1)\n"),),
        (MIXED + "test_beams_of_one_sample_stop_at_different_layers_as_the_sample_would_alone",),
    ),
    Mutant(
        "snli_ve_horizon_from_batch",
        "SNLI-VE scoring takes the decaying threshold's horizon N from the batch (its longest prompt plus the "
        "longest candidate) instead of each example's own decoder length",
        (Edit("tasks/snli_ve.py",
              "        lengths = self.decoder_lengths(sample)\n",
              "        lengths = self.decoder_lengths(sample).max().expand(len(sample[\"decoder_prompts\"]))\n"),),
        ("tests/test_inference_with_checkpoint_settings.py::test_snli_ve_exits_do_not_depend_on_the_batch",),
    ),
    Mutant(
        "decay_without_horizon",
        "the decaying decoder threshold computed without its horizon: exp(-tau t) instead of exp(-tau t / N)",
        (Edit("ofa_mue/core/exit_policy.py",
              "        decay = torch.exp(-self.tau * positions.float() / horizon)\n",
              "        decay = torch.exp(-self.tau * positions.float())\n"),),
        (POLICY + "test_token_rule_decides_per_token_with_decaying_threshold",),
    ),
    Mutant(
        "padding_in_stream_similarity",
        "padding tokens counted in an encoder stream's similarity",
        (Edit("ofa_mue/core/exit_policy.py",
              "    keep = (~padding_mask).unsqueeze(-1).to(x_in.dtype)\n",
              "    keep = torch.ones_like(padding_mask).unsqueeze(-1).to(x_in.dtype)\n"),),
        (POLICY + "test_stream_similarity_is_per_sample_and_ignores_padding",
         MIXED + "test_samples_of_one_stream_stop_at_different_layers_as_each_would_alone"),
    ),
    Mutant(
        "encoder_exit_layer_off_by_one",
        "an encoder stream that stops after layer i is recorded as having run i - 1 layers",
        (Edit("models/encoder.py",
              "            layers_used[ids[stop]] = index + 1\n",
              "            layers_used[ids[stop]] = index\n"),),
        (MIXED + "test_samples_of_one_stream_stop_at_different_layers_as_each_would_alone",
         INFERENCE + "test_static_depths_truncate_each_stream"),
    ),
    Mutant(
        "decoder_exit_layer_off_by_one",
        "a decoder token that stops after layer i is recorded as having run i - 1 layers",
        (Edit("models/decoder.py",
              "        exit_layers.masked_fill_(stop, index + 1)\n        return ~stop\n",
              "        exit_layers.masked_fill_(stop, index)\n        return ~stop\n"),),
        (MIXED + "test_tokens_of_one_step_stop_at_different_layers_with_their_own_states",
         INFERENCE + "test_incremental_decoding_with_exits_matches_recomputing_the_prefix",
         INFERENCE + "test_static_depths_truncate_each_stream"),
    ),
    Mutant(
        "encoder_exit_not_applied",
        "an encoder sample's exit is recorded but it keeps running the later layers (its output is the last "
        "layer's)",
        (Edit("models/encoder.py",
              "            running = ids[~stop]\n            if running.numel() == 0:\n                break\n",
              "            running = torch.arange(batch, device=x.device)\n"),),
        (MIXED + "test_samples_of_one_stream_stop_at_different_layers_as_each_would_alone",),
    ),
    Mutant(
        "decoder_exit_not_applied",
        "a decoder token's exit is recorded but it keeps running the later layers (its logits are the last "
        "layer's)",
        (Edit("models/decoder.py",
              "        exit_layers.masked_fill_(stop, index + 1)\n        return ~stop\n",
              "        exit_layers.masked_fill_(stop, index + 1)\n        return None\n"),),
        (MIXED + "test_tokens_of_one_step_stop_at_different_layers_with_their_own_states",
         INFERENCE + "test_exited_samples_and_tokens_leave_later_layers"),
    ),
    Mutant(
        "time_reduction_streams_unweighted",
        "the expected time reduction's encoder term averages the image and text depths without weighting "
        "them by their tokens",
        (Edit("ofa_mue/core/time_reduction.py",
              "        return (self.image_layers * self.image_tokens + self.text_layers * self.text_tokens) / tokens\n",
              "        return (self.image_layers + self.text_layers) / 2\n"),),
        (POLICY + "test_expected_time_reduction_follows_the_paper",),
    ),
    Mutant(
        "exit_test_perturbs_states",
        "exits off are not bitwise the full model: the exit test scales a layer's output in place by "
        "1 + 2^-20",
        (Edit("ofa_mue/core/exit_policy.py",
              "    x_in, x_out = x_in.float(), x_out.float()\n",
              "    x_in, x_out = x_in.float(), x_out.mul_(1.0 + 2.0**-20).float()\n"),),
        (INFERENCE + "test_exits_off_give_exactly_the_full_model",
         INFERENCE + "test_generation_with_exits_off_equals_fairseq_generation"),
    ),
    Mutant(
        "retention_target_ignored",
        "the uncertified calibration (--method retention) ignores its retention target: the fastest "
        "configuration is chosen whatever quality it keeps",
        (Edit("ofa_mue/calibrate.py",
              "    index = most_reduction(metric >= retention * full, table.reductions(configurations).mean(axis=1))\n",
              "    index = most_reduction(metric >= -np.inf, table.reductions(configurations).mean(axis=1))\n"),),
        (RETENTION + "test_the_fastest_configuration_that_keeps_the_retention_is_chosen",),
    ),
    Mutant(
        "retention_target_exclusive",
        "the retention target compared strictly: a configuration that keeps exactly --retention of the full "
        "model's metric is refused",
        (Edit("ofa_mue/calibrate.py",
              "    index = most_reduction(metric >= retention * full, table.reductions(configurations).mean(axis=1))\n",
              "    index = most_reduction(metric > retention * full, "
              "table.reductions(configurations).mean(axis=1))\n"),),
        (RETENTION + "test_the_fastest_configuration_that_keeps_the_retention_is_chosen",),
    ),
    Mutant(
        "certified_choice_most_conservative",
        "the certified calibration (--method ltt) chooses the most conservative certified configuration (the "
        "first that passes) instead of the one with the most expected time reduction",
        (Edit("ofa_mue/core/risk_control.py",
              "                         most_reduction(allowed, mean_reductions), certified, p_values)\n",
              "                         certified[0] if certified else None, certified, p_values)\n"),),
        (RETENTION + "test_the_certified_choice_is_the_fastest_configuration_that_passes_at_epsilon",),
    ),
    Mutant(
        "binary_loss_hoeffding_bentkus",
        "a 0/1 loss tested with the Hoeffding-Bentkus bound instead of the exact binomial tail (valid, but it "
        "certifies less, and the guarantee reports the wrong p-value)",
        (Edit("ofa_mue/core/risk_control.py",
              "        return binomial_p_value(losses, epsilon)\n",
              "        return hoeffding_bentkus_p_value(losses, epsilon)\n"),),
        (RISK + "test_p_value_formulas",
         RETENTION + "test_the_certified_choice_is_the_fastest_configuration_that_passes_at_epsilon"),
    ),
    Mutant(
        "bentkus_losses_rounded_down",
        "the Bentkus term of the Hoeffding-Bentkus p-value rounds the loss sum down (anti-conservative: it "
        "certifies configurations it must not)",
        (Edit("ofa_mue/core/risk_control.py",
              "    bentkus = math.e * stats.binom.cdf(np.ceil(np.round(n * mean, 9)), n, epsilon)\n",
              "    bentkus = math.e * stats.binom.cdf(np.floor(np.round(n * mean, 9)), n, epsilon)\n"),),
        (RISK + "test_hoeffding_bentkus_takes_the_smaller_of_its_two_bounds_rounding_losses_up",),
    ),
    Mutant(
        "bentkus_term_dropped",
        "the Hoeffding-Bentkus p-value without its Bentkus term (Hoeffding alone: valid, but it certifies less)",
        (Edit("ofa_mue/core/risk_control.py",
              "    return np.minimum(1.0, np.minimum(np.exp(-n * divergence), bentkus))\n",
              "    return np.minimum(1.0, np.exp(-n * divergence))\n"),),
        (RISK + "test_hoeffding_bentkus_takes_the_smaller_of_its_two_bounds_rounding_losses_up",),
    ),
    Mutant(
        "joint_encoder_flops_without_image_tokens",
        "the FLOPs of a joint (not decomposed) encoder counted over its text tokens only, leaving out the image "
        "tokens of the same stream",
        (Edit("ofa_mue/core/flops.py",
              "        parts[\"text_stream\"] = example.text_layers * encoder_layer_flops(d, f, images + texts)\n",
              "        parts[\"text_stream\"] = example.text_layers * encoder_layer_flops(d, f, texts)\n"),),
        (FLOPS + "test_joint_encoder_and_the_split_reduction",),
    ),
    Mutant(
        "flops_reduction_mean_of_ratios",
        "a split's FLOPs reduction taken as the mean of per-example reductions instead of one minus the ratio "
        "of the FLOPs sums (a small example weighs as much as a large one)",
        (Edit("ofa_mue/core/flops.py",
              "        \"flops_reduction\": 1.0 - used_mean[\"total\"] / full_mean[\"total\"] if full_mean[\"total\"] "
              "else 0.0,\n",
              "        \"flops_reduction\": 1.0 - sum(u[\"total\"] / f[\"total\"] for u, f in zip(used, full)) "
              "/ len(used),\n"),),
        (FLOPS + "test_joint_encoder_and_the_split_reduction",),
    ),
    Mutant(
        "scored_positions_ignored",
        "the scored-positions time reduction counts every processed decoder position (teacher-forced "
        "scoring's prompt positions included), so it equals the main figure",
        (Edit("ofa_mue/core/time_reduction.py",
              "            return self.decoder_scored_layer_sum or 0, self.decoder_scored_tokens\n",
              "            return self.decoder_layer_sum, self.decoder_tokens\n"),),
        (POLICY + "test_scored_positions_variant_counts_only_the_scored_decoder_positions",),
    ),
    Mutant(
        "scored_positions_summary_is_the_main_figure",
        "the split's summary reports the all-positions expected time reduction as the scored-positions one",
        (Edit("ofa_mue/core/time_reduction.py",
              "        expected_time_reduction_scored_positions=expected_time_reduction(examples, encoder_depth, "
              "decoder_depth,\n"
              "                                                                         scored_positions=True),\n",
              "        expected_time_reduction_scored_positions=expected_time_reduction(examples, encoder_depth, "
              "decoder_depth),\n"),),
        (POLICY + "test_scored_positions_variant_counts_only_the_scored_decoder_positions",),
    ),
    Mutant(
        "no_decoder_positions_count_as_skipped",
        "an example with no decoder position counted gets decoder term 0.0 (its whole decoder counted as "
        "saved) instead of the full model's 1.0",
        (Edit("ofa_mue/core/time_reduction.py",
              "    decoder = example.decoder_layers(scored_positions) / decoder_depth if counted else 1.0\n",
              "    decoder = example.decoder_layers(scored_positions) / decoder_depth if counted else 0.0\n"),),
        (POLICY + "test_an_example_without_counted_decoder_positions_claims_no_decoder_saving",),
    ),
    Mutant(
        "replaced_image_donor_next_row",
        "--replace-images other takes the next row's image instead of the row half the split away (in SNLI-VE "
        "the next row often shows the same scene)",
        (Edit("ofa_mue/replaced_images.py",
              "        candidate = (index + size // 2 + step) % size\n",
              "        candidate = (index + 1 + step) % size\n"),),
        (REPLACED_OTHER + "[snli_ve]", REPLACED_OTHER + "[caption]"),
    ),
    Mutant(
        "merged_seconds_first_shard",
        "a merged evaluation reports the first shard's seconds instead of the shards' total",
        (Edit("ofa_mue/merge.py",
              "records, sum(s[\"seconds\"] for s in shards),\n",
              "records, shards[0][\"seconds\"],\n"),),
        ("tests/test_sharded_evaluation.py::test_merged_caption_shards_equal_the_unsharded_evaluation",),
    ),
    Mutant(
        "envelope_line_whole_hull",
        "the plotted envelope line draws the whole upper hull, including the vertices before the best quality "
        "that lie below the envelope (static truncation drawn worse than it is)",
        (Edit("ofa_mue/envelope.py",
              "    return head + list(hull[top:])\n",
              "    return head + list(hull)\n"),),
        (ENVELOPE,),
    ),
    Mutant(
        "envelope_line_without_flat_head",
        "the plotted envelope line drops its flat head: it starts at the best vertex instead of at the best "
        "quality from the smallest reduction on",
        (Edit("ofa_mue/envelope.py",
              "    head = [(hull[0][0], hull[top][1])] if top else []\n",
              "    head = []\n"),),
        (ENVELOPE,),
    ),
    Mutant(
        "demo_conclusion_from_any_seed",
        "the demo summary's check holds when any seed meets its target, instead of every seed",
        (Edit("demo/summary.py",
              "\"passed\": (all(known) if len(known) == len(verdicts) else None)})\n",
              "\"passed\": (any(known) if len(known) == len(verdicts) else None)})\n"),),
        tuple(f"{DEMO_CHECKS}test_one_figure_past_its_bound_in_one_seed_breaks_exactly_its_check[{figure}]"
              for figure in ("snli_ve.full_accuracy", "caption.static_1_share")),
    ),
    Mutant(
        "demo_two_figure_target_either",
        "the demo summary's SNLI-VE speed/retention target met by either figure (or) instead of both (and)",
        (Edit("demo/summary.py",
              "     and at_least(f[\"snli_ve.mue_retention\"], 0.99)},\n",
              "     or at_least(f[\"snli_ve.mue_retention\"], 0.99)},\n"),),
        tuple(f"{DEMO_CHECKS}test_one_figure_past_its_bound_in_one_seed_breaks_exactly_its_check[{figure}]"
              for figure in ("snli_ve.mue_expected_time_reduction", "snli_ve.mue_retention")),
    ),
    Mutant(
        "demo_check_without_count_tolerance",
        "the demo summary's bounds compared exactly: a gap of 182/300 - 152/300 (exactly 10 points, "
        "0.0999... in floating point) fails \"at least 10 points\"",
        (Edit("demo/summary.py",
              "    return value >= bound - TOLERANCE\n",
              "    return value >= bound\n"),),
        (f"{DEMO_CHECKS}test_figures_made_of_counts_meet_a_bound_they_equal",),
    ),
    Mutant(
        "oracle_credits_lucky_depths",
        "the per-example oracle scores each depth uncapped: a shallow depth right by luck where the full "
        "model is wrong counts, and the oracle rises above the full model",
        (Edit("ofa_mue/adaptivity_bound.py",
              "    capped = np.minimum(scores, scores[0])\n",
              "    capped = scores\n"),),
        (f"{ADAPTIVITY}test_without_penalty_the_oracle_keeps_the_full_models_score_at_the_cheapest_depth",),
    ),
    Mutant(
        "stable_oracle_ignores_deeper_depths",
        "the stable oracle takes any depth that gives the full model's answer, also one whose deeper "
        "combinations do not (an answer right by luck, not settled)",
        (Edit("ofa_mue/adaptivity_bound.py",
              "    stable = np.array([agrees[deeper[c]].all(axis=0) for c in range(len(depths))])\n",
              "    stable = agrees\n"),),
        (f"{ADAPTIVITY}test_the_stable_oracle_needs_every_deeper_depth_to_give_the_full_models_answer",),
    ),
    Mutant(
        "relation_question_reversed",
        "a relation question answered the wrong way round: \"the shapes left of the red circle\" names the "
        "shapes the red circle is left of",
        (Edit("demo/questions.py",
              "RELATIONS[relation](o, anchor)]",
              "RELATIONS[relation](anchor, o)]"),),
        (f"{QUESTIONS}test_relation_answers_name_the_related_objects_in_reading_order",),
    ),
    Mutant(
        "count_question_beyond_three",
        "count questions asked also when four objects match (answers beyond the three the stage promises)",
        (Edit("demo/questions.py",
              "    if len(counted) > 3:\n",
              "    if len(counted) > 4:\n"),),
        (f"{QUESTIONS}test_count_answers_how_many_visible_objects_match",),
    ),
    Mutant(
        "lookup_objects_ignored",
        "lookup questions drawn on scenes of 2-4 objects whatever the number asked for (grounding_lookup.py's "
        "one- and two-object settings would measure the default mix)",
        (Edit("demo/questions.py",
              "scene = sample_scene(rng, n_objects=tuple(lookup_objects))",
              "scene = sample_scene(rng, n_objects=LOOKUP_OBJECTS)"),),
        (f"{QUESTIONS}test_lookup_scenes_hold_the_asked_numbers_of_objects",),
    ),
    Mutant(
        "easy_lookup_updates_ignored",
        "--easy-lookup-updates accepted and recorded but every update asks about scenes of two to four objects",
        (Edit("demo/question_stage.py",
              "objects = EASY_LOOKUP_OBJECTS if step < easy_lookup_updates else lookup_objects",
              "objects = lookup_objects"),),
        (f"{QUESTIONS}test_easy_lookup_updates_ask_about_two_objects_first",),
    ),
    Mutant(
        "focus_weight_ignored",
        "--focus-weight accepted and recorded but the focus loss never added: the question stage trains as without it",
        (Edit("demo/question_stage.py",
              "    watched = [layer.encoder_attn for layer in model.decoder.layers[1:]] if focus_weight else []",
              "    watched = []"),),
        (f"{QUESTIONS}test_the_focus_weight_trains_where_the_decoder_looks",),
    ),
    Mutant(
        "focus_lr_ignored",
        "--focus-lr accepted and recorded but every parameter trains at the stage's learning rate",
        (Edit("demo/question_stage.py",
              "    if focus_lr is None:\n        return [{\"params\": list(model.parameters()), \"lr\": lr}]",
              "    if True:\n        return [{\"params\": list(model.parameters()), \"lr\": lr}]"),),
        (f"{QUESTIONS}test_the_focus_learning_rate_is_the_cross_attention_queries_and_keys_own",),
    ),
    Mutant(
        "focus_cells_transposed",
        "a scene cell (col, row) is taken for the patch of (row, col): the focus loss pulls the attention to "
        "another cell than the one the answer is read from",
        (Edit("demo/question_stage.py",
              "    col, row = cell\n    return [(row * per_cell",
              "    row, col = cell\n    return [(row * per_cell"),),
        (f"{QUESTIONS}test_cell_patches_cover_the_scene_cell_row_major",
         f"{QUESTIONS}test_focus_loss_is_minus_log_the_head_mean_probability_on_the_focus_cells"),
    ),
    Mutant(
        "focus_loss_on_the_best_head",
        "the focus loss takes the largest head's probability on the focus instead of the mean over heads",
        (Edit("demo/question_stage.py",
              "(p[:, :heads].mean(1) * on_focus[:, None, :]).sum(-1)",
              "(p * on_focus[:, None, None, :]).sum(-1).amax(1)"),),
        (f"{QUESTIONS}test_focus_loss_is_minus_log_the_head_mean_probability_on_the_focus_cells",),
    ),
    Mutant(
        "focus_heads_ignored_by_the_loss",
        "the focus loss takes the mean over every head whatever --focus-heads says",
        (Edit("demo/question_stage.py", "(p[:, :heads].mean(1) * on_focus", "(p.mean(1) * on_focus"),),
        (f"{QUESTIONS}test_focus_loss_is_minus_log_the_head_mean_probability_on_the_focus_cells",),
    ),
    Mutant(
        "focus_heads_not_passed_to_the_loss",
        "--focus-heads accepted and recorded but the stage puts the focus loss on every head",
        (Edit("demo/question_stage.py",
              "focus_loss(probabilities, batch[\"focus\"], scored, image_patches, focus_heads)",
              "focus_loss(probabilities, batch[\"focus\"], scored, image_patches)"),),
        (f"{QUESTIONS}test_the_focus_weight_trains_where_the_decoder_looks",),
    ),
    Mutant(
        "focus_heads_unchecked",
        "--focus-heads 0 or more heads than the model has is accepted (0 would train on an empty mean: NaN)",
        (Edit("demo/question_stage.py",
              "    if focus_heads is not None and not (focus_heads >= 1",
              "    if False and not (focus_heads >= 1"),),
        (f"{QUESTIONS}test_the_focus_weight_trains_where_the_decoder_looks",),
    ),
    Mutant(
        "focus_heads_without_a_focus_weight_accepted",
        "--focus-heads without --focus-weight is accepted and does nothing",
        (Edit("demo/question_stage.py", "    if focus_heads is not None and focus_weight == 0:",
              "    if focus_heads is not None and focus_weight < 0:"),),
        (f"{QUESTIONS}test_the_focus_weight_trains_where_the_decoder_looks",),
    ),
    Mutant(
        "freeze_encoder_ignored",
        "--freeze-encoder accepted and recorded but the whole model trains",
        (Edit("demo/question_stage.py", "    if freeze_encoder:\n        freeze_encoder_weights(model)",
              "    if False:\n        freeze_encoder_weights(model)"),),
        (f"{QUESTIONS}test_freeze_encoder_trains_the_decoder_and_the_shared_token_embeddings_only",),
    ),
    Mutant(
        "freeze_encoder_lets_batch_norm_statistics_move",
        "--freeze-encoder fixes the encoder's weights but its image embedding's BatchNorm running statistics "
        "still follow the question batches",
        (Edit("demo/question_stage.py", "    model.encoder.embed_images.frozen_batch_norm = True\n", ""),),
        (f"{QUESTIONS}test_freeze_encoder_trains_the_decoder_and_the_shared_token_embeddings_only",),
    ),
    Mutant(
        "freeze_encoder_freezes_the_shared_token_embeddings",
        "--freeze-encoder also fixes the token embeddings the encoder shares with the decoder (and its output "
        "projection)",
        (Edit("demo/question_stage.py", "        if id(parameter) not in shared:", "        if True:"),),
        (f"{QUESTIONS}test_freeze_encoder_trains_the_decoder_and_the_shared_token_embeddings_only",),
    ),
    Mutant(
        "recorded_attention_without_the_padding_mask",
        "the recorded attention probabilities leave out the bias and padding mask, so they are not the ones "
        "the attention weights its values with",
        (Edit("models/attention.py",
              "self.recorded.append((scores if mask is None else scores + mask).softmax(-1))",
              "self.recorded.append(scores.softmax(-1))"),),
        ("tests/test_attention.py::test_recorded_probabilities_are_the_ones_the_attention_uses",),
    ),
    Mutant(
        "label_smoothing_over_every_token",
        "label smoothing divides eps by all the allowed tokens, the gold one included (eps / V each; at "
        "SNLI-VE's answer position eps / 3) instead of by the others, as fairseq's and OFA's eps / (V - 1): "
        "another loss than OFA's at the same --label-smoothing",
        (Edit("criterions/label_smoothed_cross_entropy.py",
              "epsilon / (allowed - 1).clamp(min=1)",
              "epsilon / allowed"),),
        (f"{OFA_CRITERION}test_unconstrained_smoothing_keeps_one_minus_epsilon_on_the_target_and_spreads_epsilon_"
         "over_the_rest",
         f"{OFA_CRITERION}test_snli_ve_answer_smoothing_gives_each_other_answer_half_of_epsilon"),
    ),
    Mutant(
        "drop_worst_keeps_the_worst",
        "--drop-worst-ratio keeps the share of tokens with the highest loss and leaves out the easiest ones "
        "(OFA's drop-worst the wrong way round)",
        (Edit("criterions/label_smoothed_cross_entropy.py",
              "k=int(loss.numel() * (1 - ratio)), largest=False)",
              "k=int(loss.numel() * (1 - ratio)), largest=True)"),),
        (f"{LAYERWISE}test_drop_worst_leaves_out_each_layers_worst_tokens_in_training_only",),
    ),
    Mutant(
        "layerwise_loss_of_the_last_layer_only",
        "the layer-wise loss scores the last decoder layer's output in every layer's term: it is OFA's plain "
        "loss, and the early layers are never trained to answer",
        (Edit("criterions/layerwise_cross_entropy.py",
              "decoder.hidden_to_logits(state[scored])",
              "decoder.hidden_to_logits(states[-1][scored])"),),
        (f"{LAYERWISE}test_value_is_weighted_mean_of_independent_layer_losses[None-False]",),
    ),
    Mutant(
        "snli_ve_labels_swapped",
        "SNLI-VE's contradiction and neutral labels swapped (contradiction -> maybe, neutral -> no): trained "
        "and scored against other answers than OFA's no / yes / maybe",
        (Edit("data/snli_ve_dataset.py",
              'LABEL_TO_ANSWER = {"contradiction": "no", "entailment": "yes", "neutral": "maybe"}',
              'LABEL_TO_ANSWER = {"contradiction": "maybe", "entailment": "yes", "neutral": "no"}'),),
        (f"{SNLI_DATA}test_prev_output_layout", f"{SNLI_DATA}test_collater_batch"),
    ),
    Mutant(
        "snli_ve_prev_output_keeps_eos",
        "--prompt-type prev_output (OFA's recipes') gives the decoder the whole source, eos included, so the "
        "answer follows an eos, unlike in OFA's fine-tuned checkpoints",
        (Edit("data/snli_ve_dataset.py",
              '"prev_output": source[:-1]}',
              '"prev_output": source}'),),
        (f"{SNLI_DATA}test_prev_output_layout", f"{SNLI_DATA}test_collater_batch"),
    ),
    Mutant(
        "snli_ve_answers_not_constrained",
        "SNLI-VE's evaluation scores the three answers without the answer trie's constraint: each answer's "
        "probability is over the whole vocabulary and its eos counts, so the best answer can differ from "
        "OFA's constrained choice",
        (Edit("tasks/snli_ve.py",
              'lprobs = constrained_log_probs(logits[scored], inputs["constraint_masks"].to(device))',
              "lprobs = constrained_log_probs(logits[scored], None)"),),
        (f"{EVAL_HABITS}test_snli_ve_scores_its_answers_constrained_to_the_three_candidates",),
    ),
    Mutant(
        "snli_score_averages_batch_accuracies",
        "SNLI-VE's validation snli_score (OFA's --best-checkpoint-metric) is the mean of the validation "
        "batches' accuracies, not OFA's share of all rows answered right: a short last batch weighs as much "
        "as a full one, and fine-tuning keeps another checkpoint as the best",
        (Edit("tasks/snli_ve.py",
              'metrics.log_scalar("snli_score", correct / total, total, round=4)',
              'metrics.log_scalar("snli_score", correct / total, 1, round=4)'),),
        ("tests/test_ofa_validation_metrics.py::"
         "test_snli_score_is_the_share_of_all_validation_rows_answered_right_as_ofa_scores_them",),
    ),
    Mutant(
        "baselines_judge_snli_ve_answers_over_the_vocabulary",
        "DeeBERT's entropy (and PABEE's prediction) at SNLI-VE's answer position is taken over the whole "
        "vocabulary, whose logits outside the three answers training never shaped, instead of the three "
        "answers' distribution the task scores with: the baselines' exits no longer follow their confidence "
        "in the answer, and the comparison with MuE is not on equal footing",
        (Edit("tasks/snli_ve.py",
              '        logits[constrained] = logits[constrained].masked_fill(~constraint_masks[rows[constrained]], '
              'float("-inf"))\n',
              ""),),
        ("tests/test_baselines_on_snli_ve.py::"
         "test_entropy_exit_judges_the_answer_by_the_three_answers_distribution",),
    ),
    Mutant(
        "image_positions_from_grid_width",
        "image position ids counted along the patch grid's own width (1 + row * width + col) instead of OFA's "
        "1 + row * 42 + col (image_bucket_size): every grid narrower than 42 patches reads other position "
        "embeddings than OFA's checkpoints were trained with",
        (Edit("models/position_bias.py",
              "    return (1 + rows * bucket_size + cols).flatten()\n",
              "    return (1 + rows * width + cols).flatten()\n"),),
        (f"{ARCHITECTURE}test_image_patches_take_ofas_position_ids",),
    ),
    Mutant(
        "cider_d_without_clipping",
        "the CIDEr-D reward and --eval-cider without CIDEr-D's clipping (plain CIDEr): a caption that repeats "
        "a reference's n-gram earns more for each repeat",
        (Edit("criterions/cider_reward.py",
              "sum(min(weight, ref[n].get(ngram, 0.0)) * ref[n].get(ngram, 0.0)",
              "sum(weight * ref[n].get(ngram, 0.0)"),),
        (f"{SCST}test_cider_d_equals_pycocoevalcap_when_document_frequencies_come_from_the_same_references",),
    ),
    Mutant(
        "sentence_keeps_leading_punctuation",
        "SNLI-VE's hypotheses and premises keep their leading ,.!?*#:;~ (OFA's pre_caption strips them): "
        "another token sequence than OFA's checkpoints were fine-tuned on",
        (Edit("data/text.py",
              "    text = text.lower().lstrip(_LEADING_PUNCTUATION)\n",
              "    text = text.lower()\n"),),
        (f"{TEXT}test_normalize_sentence_follows_ofas_pre_caption[leading-punctuation]",
         f"{TEXT}test_normalize_sentence_follows_ofas_pre_caption[leading-punctuation-run]"),
    ),
    Mutant(
        "sentence_keeps_person_tag",
        "the <person> tag of SNLI-VE's sentences is encoded as written instead of as the word person "
        "(OFA's pre_caption)",
        (Edit("data/text.py", '.replace("<person>", "person")', ""),),
        (f"{TEXT}test_normalize_sentence_follows_ofas_pre_caption[person-tag]",),
    ),
    Mutant(
        "sentence_words_counted_before_collapsing_spaces",
        "runs of whitespace (those hyphens and slashes leave included) are not collapsed: each extra space "
        "counts as an empty word, so --max-src-length keeps fewer real words than OFA",
        (Edit("data/text.py",
              '    text = re.sub(r"\\s{2,}", " ", text).rstrip("\\n").strip(" ")\n',
              '    text = text.rstrip("\\n").strip(" ")\n'),),
        (f"{TEXT}test_normalize_sentence_follows_ofas_pre_caption[runs-left-by-hyphens]",
         f"{TEXT}test_normalize_sentence_follows_ofas_pre_caption[whitespace-runs]",
         f"{TEXT}test_words_are_counted_after_the_clean_up"),
    ),
    Mutant(
        "transparent_colour_not_composited",
        "a palette or grey image whose transparency is a colour key (PNG tRNS, GIF) rather than an alpha "
        "mode is converted as if opaque: its transparent pixels show the keyed colour, not the white "
        "background",
        (Edit("data/images.py",
              '    if image.mode in ALPHA_MODES or "transparency" in image.info:\n',
              "    if image.mode in ALPHA_MODES:\n"),),
        (f"{IMAGES}test_every_pillow_mode_becomes_the_rgb_picture_it_shows[P-14]",
         f"{IMAGES}test_every_pillow_mode_becomes_the_rgb_picture_it_shows[L-15]"),
    ),
    Mutant(
        "bleu_keys_mislabelled",
        "the caption metrics' BLEU scores under the wrong keys (BLEU-4 reported as bleu1, ...)",
        (Edit("ofa_mue/caption_metrics.py",
              "enumerate(bleu, start=1)",
              "enumerate(reversed(bleu), start=1)"),),
        (f"{CAPTION_METRICS}test_bleu_keys_hold_their_own_n_gram_order",),
    ),
    Mutant(
        "captions_scored_untokenised",
        "predicted captions scored as written, without the PTB tokenizer the references go through: a "
        "capital letter or a full stop costs the caption its n-gram matches",
        (Edit("ofa_mue/caption_metrics.py",
              "    refs, hyps = _tokenize(references), _tokenize([[p] for p in predictions])\n",
              "    refs, hyps = _tokenize(references), {i: [p] for i, p in enumerate(predictions)}\n"),),
        (f"{CAPTION_METRICS}test_predictions_are_tokenised_as_the_references_are",),
    ),
    Mutant(
        "rouge_l_candidate_and_reference_swapped",
        "ROUGE-L computed with candidates and references swapped: precision and recall trade places in its "
        "recall-weighted F-measure (silent when each image has one reference)",
        (Edit("ofa_mue/caption_metrics.py",
              'results["rouge_l"] = float(Rouge().compute_score(refs, hyps)[0])',
              'results["rouge_l"] = float(Rouge().compute_score(hyps, refs)[0])'),),
        (f"{CAPTION_METRICS}test_rouge_l_is_the_candidates_lcs_f_measure_against_the_references",),
    ),
    Mutant(
        "per_example_rouge_against_references",
        "the per-example ROUGE-L of the consistency loss taken against the references instead of the full "
        "model's caption (the anchor): a caption unlike the full model's counts as consistent",
        (Edit("ofa_mue/caption_metrics.py",
              "rouge.calc_score(hypotheses[i], self.anchors[i])",
              "rouge.calc_score(hypotheses[i], self.references[i])"),),
        (f"{CAPTION_METRICS}test_per_example_rouge_l_is_against_the_anchor_caption_not_the_references",),
    ),
    Mutant(
        "joint_encoder_streams_misplaced",
        "Figure 3 on OFA's joint encoder with the image stream's length taken as the text's: each stream "
        "measured on the other's positions (or part of them)",
        (Edit("ofa_mue/saturation.py",
              "image_length = x_in.size(1) - self._text_length",
              "image_length = self._text_length"),),
        (f"{SATURATION}test_joint_encoder_is_measured_on_each_streams_own_positions",),
    ),
    Mutant(
        "imageless_samples_in_figure3",
        "samples without an image (patch mask off) measured on their all-padding image stream: a cosine "
        "similarity of 0 each, dragging Figure 3's image panel down",
        (Edit("ofa_mue/saturation.py",
              "        if padding is not None:  # a sample without this stream (no image) has nothing to measure\n"
              "            similarity = similarity[~padding.all(dim=1)]\n",
              ""),),
        (f"{SATURATION}test_samples_without_an_image_have_no_image_similarity",),
    ),
    Mutant(
        "figure3_layers_numbered_from_zero",
        "Figure 3's rows and x axis number layers from 0 while every other table counts from 1",
        (Edit("ofa_mue/saturation.py",
              'rows.append({"part": part, "layer": index + 1,',
              'rows.append({"part": part, "layer": index,'),),
        (f"{SATURATION}test_similarity_rows_number_layers_from_one_and_give_population_statistics",),
    ),
    Mutant(
        "layer_losses_logged_per_token_always",
        "the logged loss_layer{i} divided by the batch's tokens instead of the loss's own denominator: per "
        "token under --sentence-avg, and too small while --drop-worst-ratio leaves tokens out, so it no "
        "longer compares with OFA's logged loss",
        (Edit("criterions/layerwise_cross_entropy.py",
              '"loss_layer", "loss_layer", kept)',
              '"loss_layer", "loss_layer", ntokens)'),),
        (f"{LAYERWISE}test_logged_layer_accuracies_and_losses_have_their_own_denominators",),
    ),
    Mutant(
        "layer_accuracies_over_kept_tokens",
        "the logged acc_layer{i} divided by the sample size (sentences under --sentence-avg, kept tokens "
        "under --drop-worst-ratio) although it counts right predictions over every target token",
        (Edit("criterions/layerwise_cross_entropy.py",
              '"acc_layer", ntokens, scale',
              '"acc_layer", kept, scale'),),
        (f"{LAYERWISE}test_logged_layer_accuracies_and_losses_have_their_own_denominators",),
    ),
    Mutant(
        "picture_extensions_case_sensitive",
        "python -m ofa_mue.predict on a folder matches extensions case-sensitively: a camera's PHOTO.JPG "
        "is silently left out of the predictions",
        (Edit("ofa_mue/predict.py",
              "p.suffix.lower() in extensions",
              "p.suffix in extensions"),),
        ("tests/test_predict.py::test_a_folder_gives_its_pictures_in_name_order_whatever_the_extensions_case",),
    ),
    Mutant(
        "match_source_len_counts_the_eos",
        "--match-source-len counts the source with fairseq 0.12's src_lengths (eos included): every caption "
        "one token longer than OFA's generator makes it",
        (Edit("ofa_mue/core/early_exit_generator.py",
              'net_input = {k: v for k, v in sample["net_input"].items() if k != "src_lengths"}',
              'net_input = dict(sample["net_input"])'),),
        (f"{EVAL_HABITS}test_match_source_len_counts_the_source_as_ofas_generator_does",),
    ),
    Mutant(
        "diverse_beams_searched_as_fairseq_0_12",
        "--diverse-beam-groups keeps fairseq 0.12's search (overlap accumulated over steps, one candidate "
        "per beam, looked up by sample id): other captions than OFA's, and an IndexError after the first batch",
        (Edit("ofa_mue/core/early_exit_generator.py",
              "        if type(self.search) is search.DiverseBeamSearch:",
              "        if False:"),),
        (f"{GENERATION_HABITS}test_diverse_beam_groups_penalise_as_ofas_hamming_search",
         f"{GENERATION_HABITS}test_diverse_beam_groups_generate_in_every_batch_of_an_evaluation"),
    ),
    Mutant(
        "evaluation_not_seeded",
        "python -m ofa_mue.evaluate does not seed torch with --seed (OFA's evaluate.py does): --sampling "
        "gives other captions on every run",
        (Edit("ofa_mue/evaluate.py",
              "            utils.set_torch_seed(self.cfg.common.seed)\n",
              ""),),
        (f"{GENERATION_HABITS}test_sampled_captions_repeat_with_the_seed_as_in_ofas_evaluate",),
    ),
    Mutant(
        "decoder_off_judged_on_the_decays_floor",
        "a decoder threshold above 1 (off) still exits when --decoder-exit-beta is below 1, the exit being "
        "judged on beta * theta: the sweep's and calibration's full-model references become exiting models",
        (Edit("ofa_mue/core/exit_policy.py",
              "        return self.decoder <= 1.0\n",
              "        return self.decoder_beta * self.decoder <= 1.0\n"),),
        (f"{POLICY}test_thresholds_above_one_never_exit",),
    ),
    Mutant(
        "same_exits_counted_as_several_levels",
        "thresholds that give the same exits (same expected reduction and quality) each count as a level of "
        "MuE against static truncation, so one point above the envelope can read as 'MuE beats a fixed depth'",
        (Edit("ofa_mue/paper_tables.py",
              "and abs(entry[\"mue_metric\"] - row[\"metric\"]) <= TOLERANCE), None) if level else None",
              "and abs(entry[\"mue_metric\"] - row[\"metric\"]) <= TOLERANCE), None) if False else None"),),
        ("tests/test_reporting_audit.py::test_thresholds_with_the_same_exits_are_one_level",),
    ),
    Mutant(
        "step_token_layers_replayed_per_token",
        "predict --show-layers under --exit-granularity step shows each caption token the depth of its own "
        "per-token decision instead of the layers its generation step ran",
        (Edit("ofa_mue/predict.py",
              '        if generation_session.decoder_granularity.mode == "step":\n',
              "        if False:\n"),),
        ("tests/test_predict.py::test_token_layers_under_step_exits_are_those_of_their_generation_step",),
    ),
    Mutant(
        "demo_rerun_resumes_old_models",
        "demo.sh run again into the folders of a previous run keeps them: fairseq-train resumes each "
        "model from the old checkpoint_last.pt (ignoring --finetune-from-model and the rerun's DEMO_* "
        "settings) and the calibration refuses the old tables",
        (Edit("run_scripts/demo.sh",
              '  rm -rf "$SEED_CKPT" "$SEED_OUT"\n',
              '  mkdir -p "$SEED_CKPT"\n'),),
        ("tests/test_demo_data.py::test_demo_script_starts_each_seed_afresh",),
    ),
    Mutant(
        "recipe_rerun_continues_old_run",
        "a fine-tuning recipe run again into a save dir an earlier run left continues that run "
        "(fairseq-train resumes from its checkpoint_last.pt, whatever the settings now say) where "
        "OFA's recipes start afresh, without RESUME=1 asking for it",
        (Edit("run_scripts/lib.sh",
              '  if [[ -f "$save_dir/checkpoint_last.pt" && "${RESUME:-0}" == 0 ]]; then\n',
              '  if [[ -f "$save_dir/checkpoint_last.pt" && "${RESUME:-0}" == 2 ]]; then\n'),),
        tuple(f"tests/test_ofa_recipes.py::test_a_save_dir_left_by_an_earlier_run_is_refused_unless_resume[{recipe}]"
              for recipe in ("snli_ve", "caption_stage1", "caption_stage2")),
    ),
    Mutant(
        "attention_scaled_by_head_dim_only",
        "attention queries scaled by head_dim ** -0.5 instead of OFA's (head_dim * attn_scale_factor) ** -0.5 "
        "(factor 2 in every OFA model): sharper attention than OFA's checkpoints were trained with, while "
        "every test that runs the same attention on both sides of its comparison still passes",
        (Edit("models/attention.py",
              "        self.scaling = (self.head_dim * scale_factor) ** -0.5\n",
              "        self.scaling = self.head_dim ** -0.5\n"),),
        tuple(f"{ATTENTION}test_attention_scales_biases_masks_and_weights_heads_as_ofa[{factor}]"
              for factor in ("2.0", "3.0")),
    ),
    Mutant(
        "normformer_head_scale_ignored",
        "NormFormer's per-head attention scale (c_attn, OFA's --scale-heads) loaded from the checkpoint but "
        "never applied before the output projection",
        (Edit("models/attention.py",
              "        if self.c_attn is not None:\n",
              "        if False:\n"),),
        tuple(f"{ATTENTION}test_attention_scales_biases_masks_and_weights_heads_as_ofa[{factor}]"
              for factor in ("2.0", "3.0")),
    ),
    Mutant(
        "tsv_row_keeps_carriage_return",
        "a TSV row of a file with CRLF line ends keeps its \\r in the last field (a label 'yes\\r', an image "
        "cell with a trailing \\r)",
        (Edit("data/tsv.py",
              '.rstrip(b"\\r\\n").split(b"\\t")',
              '.rstrip(b"\\n").split(b"\\t")'),),
        ("tests/test_data_tsv.py::test_crlf_and_missing_final_newline",),
    ),
    Mutant(
        "answer_constraint_one_token_ahead",
        "the answer trie's mask at each target position allows what may follow the position's own token "
        "(the prefix taken one token too long): SNLI-VE's answer position allows only eos, and eos the "
        "tokens after it",
        (Edit("data/constraints.py",
              "self.allowed_next([self.bos, *answer[: i - answer_start]])",
              "self.allowed_next([self.bos, *answer[: i - answer_start + 1]])"),),
        (f"{SNLI_DATA}test_prev_output_layout",
         f"{SNLI_DATA}test_candidate_inputs_score_each_answer",
         f"{OFA_CRITERION}test_snli_ve_answer_smoothing_gives_each_other_answer_half_of_epsilon"),
    ),
    Mutant(
        "captions_scored_against_cleaned_references",
        "test captions scored against the references without punctuation (the training targets) instead of "
        "the references as the TSV writes them, which OFA's coco_eval.py scores",
        (Edit("data/caption_dataset.py",
              '        sample["raw_references"] = raw_references(row["caption"])\n',
              '        sample["raw_references"] = references\n'),),
        ("tests/test_data_caption.py::test_sample_layout",
         "tests/test_data_caption.py::test_collater_pads_right_and_keeps_references",
         "tests/test_data_caption.py::test_raw_references_keep_punctuation_and_normalise_whitespace"),
    ),
    Mutant(
        "exit_profile_overridden_by_option_defaults",
        "--exit-profile's thresholds overridden by the exit options' values, defaults included: the "
        "calibrated profile is silently not used",
        (Edit("tasks/ofa_task.py",
              "        options.update(profile or {})\n",
              "        options = {**(profile or {}), **options}\n"),),
        ("tests/test_training_and_evaluation_cli.py::test_calibrate_profile_and_sweep",),
    ),
    Mutant(
        "calibration_table_thresholds_misread",
        "a saved calibration table read back with each configuration's thresholds in another order than "
        "(image, text, decoder): a reused table gives its entries to other configurations, and the profile "
        "names thresholds that were not measured",
        (Edit("ofa_mue/calibration_table.py",
              "                entries[tuple(float(thresholds[k]) for k in KNOBS)] = entry\n",
              "                entries[tuple(float(thresholds[k]) for k in sorted(KNOBS))] = entry\n"),),
        (f"{RETENTION}test_a_saved_table_reads_back_each_configuration_under_its_own_thresholds",),
    ),
    Mutant(
        "stream_token_counts_swapped",
        "the per-example counts weigh the image stream's layers by the text stream's tokens and the other "
        "way round (the expected time reduction's encoder term and the FLOPs)",
        (Edit("ofa_mue/core/early_exit.py",
              '        image_layers, image_tokens = streams.get("image", zeros), stream_tokens.get("image", zeros)\n'
              '        text_layers, text_tokens = streams.get("text", zeros), stream_tokens.get("text", zeros)\n',
              '        image_layers, image_tokens = streams.get("image", zeros), stream_tokens.get("text", zeros)\n'
              '        text_layers, text_tokens = streams.get("text", zeros), stream_tokens.get("image", zeros)\n'),),
        (f"{FLOPS}test_counts_of_a_generation_with_exits_equal_torchs_flop_counter",),
    ),
    Mutant(
        "legacy_checkpoint_task_unnamed",
        "a checkpoint with a flat args namespace read as naming no task (its _name looked up as in a cfg "
        "checkpoint): an evaluation silently takes OFA's default image size, columns and lengths instead of "
        "the checkpoint's",
        (Edit("ofa_mue/checkpoint_loading.py",
              '"_name": getattr(state["args"], LEGACY_NAME_FIELDS[group], None)}',
              '"_name": getattr(state["args"], "_name", None)}'),),
        ("tests/test_checkpoint_round_trip.py::"
         "test_a_legacy_args_checkpoint_gives_its_task_settings_to_an_evaluation_of_its_task",),
    ),
    Mutant(
        "trusted_load_leaves_torchs_switch_set",
        "OFA_MUE_TRUST_CHECKPOINTS=1 loads set torch's TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD and leave it set: every "
        "later torch.load of the process, without the opt-in too, unpickles anything",
        (Edit("ofa_mue/checkpoint_loading.py",
              '        if previous is None:\n            del os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"]\n',
              '        if previous is None:\n            pass\n'),),
        ("tests/test_checkpoint_loading.py::test_trusted_load_sets_torchs_switch_for_that_load_only",),
    ),
    Mutant(
        "trusted_load_drops_users_torch_switch",
        "a trusted load removes the user's own TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD setting instead of restoring it",
        (Edit("ofa_mue/checkpoint_loading.py",
              '            os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = previous\n',
              '            del os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"]\n'),),
        ("tests/test_checkpoint_loading.py::test_trusted_load_sets_torchs_switch_for_that_load_only",),
    ),
    Mutant(
        "trust_opt_in_taken_from_any_value",
        "any non-empty OFA_MUE_TRUST_CHECKPOINTS opts in to full unpickling: OFA_MUE_TRUST_CHECKPOINTS=0 (or "
        "false) turns the allow-list off",
        (Edit("ofa_mue/checkpoint_loading.py",
              'return os.environ.get(TRUST_ENV_VAR, "").strip().lower() in ("1", "true", "yes")',
              'return bool(os.environ.get(TRUST_ENV_VAR, "").strip())'),),
        ("tests/test_checkpoint_loading.py::test_trust_opt_in_is_refused_by_other_values[0]",),
    ),
    Mutant(
        "allow_list_without_numpy_arrays",
        "the allow-list leaves out numpy arrays: a checkpoint whose training statistics hold one is refused "
        "as if it held a hostile class",
        (Edit("ofa_mue/checkpoint_loading.py",
              "    numpy.ndarray,\n    _numpy_core.multiarray.scalar,\n    _numpy_core.multiarray._reconstruct,\n",
              "    _numpy_core.multiarray.scalar,\n"),),
        ("tests/test_checkpoint_loading.py::test_numpy_training_statistics_load_through_the_allow_list",),
    ),
    Mutant(
        "allow_list_with_float_dtypes_only",
        "the allow-list holds numpy's float dtypes only: a checkpoint with a numpy integer or bool scalar in its "
        "training state is refused",
        (Edit("ofa_mue/checkpoint_loading.py", '("float64", "float32", "int64", "int32", "bool")',
              '("float64", "float32")'),),
        ("tests/test_checkpoint_loading.py::test_numpy_training_statistics_load_through_the_allow_list",),
    ),
    Mutant(
        "layerwise_forward_past_the_ddp_wrapper",
        "the layer-wise and SCST criterions run the unwrapped model's forward: under torch's "
        "DistributedDataParallel (fairseq's default backend, OFA's recipes) no rank syncs its gradients and "
        "the ranks train apart",
        (Edit("criterions/layerwise.py", "    _, extra = model(\n", "    _, extra = unwrapped(model)(\n"),),
        ("tests/test_criteria_under_ddp.py::test_layerwise_gradients_are_averaged_over_the_ranks",),
    ),
    Mutant(
        "label_loss_ignores_the_full_model",
        "the label loss counts every wrong MuE answer, also where the full model was wrong too: it is no longer "
        "the accuracy the exits cost, and certifies less speed than it should",
        (Edit("ofa_mue/calibration_losses.py",
              'return (1.0 - np.asarray(scores["correct"])) * np.asarray(full_scores["correct"])',
              'return 1.0 - np.asarray(scores["correct"])'),),
        ("tests/test_calibration_losses.py::test_label_loss_counts_only_answers_that_exits_made_wrong",),
    ),
    Mutant(
        "consistency_loss_truncates_misaligned_predictions",
        "the consistency loss pairs MuE's and the full model's answers without checking their counts: "
        "misaligned lists are silently cut to the shorter one",
        (Edit("ofa_mue/calibration_losses.py", "zip(predictions, full_predictions, strict=True)",
              "zip(predictions, full_predictions)"),),
        ("tests/test_calibration_losses.py::test_consistency_loss_refuses_misaligned_predictions",),
    ),
    Mutant(
        "rouge_loss_ignores_its_cutoff",
        "the rouge loss compares against the default cut-off (0.8) whatever --rouge-cutoff says: the "
        "certified loss is not the one the guarantee names",
        (Edit("ofa_mue/calibration_losses.py", "< rouge_cutoff).astype", "< DEFAULT_ROUGE_CUTOFF).astype"),),
        ("tests/test_calibration_losses.py::test_rouge_loss_uses_the_given_cut_off",),
    ),
    Mutant(
        "rouge_loss_described_with_the_default_cutoff",
        "the guarantee's loss definition names the default ROUGE-L cut-off instead of the one used",
        (Edit("ofa_mue/calibration_losses.py", 'f"{rouge_cutoff:g}"', 'f"{DEFAULT_ROUGE_CUTOFF:g}"'),),
        ("tests/test_calibration_losses.py::test_rouge_loss_uses_the_given_cut_off",),
    ),
    Mutant(
        "cider_loss_unclipped",
        "the CIDEr loss is not clipped at 0: a caption that scores above the full model's gets a negative "
        "loss that offsets other examples' losses, so the certified mean understates the CIDEr drop",
        (Edit("ofa_mue/calibration_losses.py", "return np.clip(1.0 - ratio, 0.0, 1.0)", "return 1.0 - ratio"),),
        ("tests/test_risk_control.py::test_example_losses_per_task",
         "tests/test_calibration_losses.py::test_cider_loss_is_the_relative_drop_clipped_to_0_1"),
    ),
    Mutant(
        "example_scorer_truncates_misaligned_predictions",
        "the per-example scorer does not check that there is one prediction per example: a short list is "
        "scored against the first targets and silently cut",
        (Edit("ofa_mue/calibration_losses.py", "if len(predictions) != len(self.targets):", "if False:"),),
        ("tests/test_calibration_losses.py::test_snli_scorer_scores_each_answer_and_refuses_a_misaligned_list",),
    ),
    Mutant(
        "shard_remainder_batches_dropped",
        "shards take contiguous blocks of len(batches) // K batches: when K does not divide the batch count, "
        "the last batches are in no shard",
        (Edit("ofa_mue/sharding.py", "batches[self.index::self.count]",
              "batches[self.index * (len(batches) // self.count):(self.index + 1) * (len(batches) // self.count)]"),),
        ("tests/test_sharding.py::test_shards_take_every_kth_batch_with_1_based_rows_and_cover_the_split_once",),
    ),
    Mutant(
        "merged_row_0_accepted",
        "merging accepts a row 0 (a 0-based row number) as inside the split's rows 1..n",
        (Edit("ofa_mue/sharding.py", "if not 1 <= row <= split_rows:", "if not 0 <= row <= split_rows:"),),
        ("tests/test_sharding.py::test_rows_missing_repeated_or_outside_the_split_are_refused[row_0]",),
    ),
    Mutant(
        "shards_of_another_shard_count_merged",
        "shard files are not checked to have the same --num-shards: shard 0 of 2 and shard 1 of 3 pass as a "
        "complete set",
        (Edit("ofa_mue/sharding.py", 'for key in ("kind", "num_shards", "split_rows"):',
              'for key in ("kind", "split_rows"):'),),
        ("tests/test_sharding.py::test_shards_of_different_evaluations_are_refused[num_shards]",),
    ),
    Mutant(
        "missing_shard_0_unnoticed",
        "the check for missing shards counts shard ids from 1: a set without shard 0 is merged",
        (Edit("ofa_mue/sharding.py", 'range(first["num_shards"]) if i not in by_id',
              'range(1, first["num_shards"]) if i not in by_id'),),
        ("tests/test_sharding.py::test_a_missing_first_shard_is_refused",),
    ),
    Mutant(
        "shards_returned_in_file_order",
        "read_shards returns the shards in the order their files were given, not in shard order",
        (Edit("ofa_mue/sharding.py", 'return sorted(shards, key=lambda s: s["shard_id"])', "return shards"),),
        ("tests/test_sharding.py::test_merged_records_are_in_row_order_whatever_the_shard_order",),
    ),
    Mutant(
        "merged_evaluation_skips_the_row_checks",
        "a merged evaluation concatenates the shards' records without merge_records' checks: a row in two "
        "shards is counted twice, a row in none is not noticed",
        (Edit("ofa_mue/merge.py", "records_from_shard(merge_records(shards))",
              'records_from_shard(sorted((r for s in shards for r in s["records"]), key=lambda r: r["row"]))'),),
        ("tests/test_sharded_evaluation.py::test_shards_that_repeat_or_miss_a_row_are_refused"
         "[<lambda>-row 1 is in .*shard0-of-2.json and in .*shard1-of-2.json]",
         "tests/test_sharded_evaluation.py::test_shards_that_repeat_or_miss_a_row_are_refused"
         "[<lambda>-rows 13 of 13 are in no shard]"),
    ),
    Mutant(
        "merge_of_an_unknown_kind_not_refused",
        "merging shards of a kind it has no merger for fails with a KeyError instead of a ShardError naming the file",
        (Edit("ofa_mue/merge.py", 'if shards[0]["kind"] not in MERGERS:', "if False:"),),
        ("tests/test_sharding.py::test_merge_refuses_shards_of_a_kind_it_cannot_merge",),
    ),
    Mutant(
        "merged_metrics_averaged_over_shards",
        "a merged evaluation's metrics are the shards' own metrics averaged by their rows, not recomputed over "
        "the whole split (CIDEr-D then uses each shard's document frequencies)",
        (Edit("ofa_mue/merge.py", "    summary = evaluation_summary(description, result)\n",
              '    result["metrics"] = {name: sum(task_class.evaluation_metrics(s["records"])[name] * len(s["records"])\n'
              '                                   for s in shards) / result["examples"] for name in result["metrics"]}\n'
              "    summary = evaluation_summary(description, result)\n"),),
        ("tests/test_sharded_evaluation.py::test_merged_caption_shards_equal_the_unsharded_evaluation",),
    ),
    Mutant(
        "allow_list_without_omegaconf_metadata_types",
        "the allow-list lacks the plain types a pickled omegaconf configuration names (dict, list, int): a "
        "checkpoint of fairseq's hydra transition, whose configuration is a DictConfig, is refused as hostile",
        (Edit("ofa_mue/checkpoint_loading.py", "    dict,\n    list,\n    int,\n]\n", "]\n"),),
        ("tests/test_checkpoint_loading.py::test_configuration_pickled_as_omegaconf_loads_through_the_allow_list",),
    ),
    Mutant(
        "decoded_mask_gets_a_space",
        "a <mask> token is decoded as a word of its own (' a dog <mask> runs') instead of joined to the word "
        "before, as fairseq's GPT-2 decoder and OFA's decode_fn write it (' a dog<mask> runs')",
        (Edit("data/vocabulary.py",
              "decode([int(piece) if piece.isdigit() else piece for piece in x.split()])",
              'decode([int(piece) if piece.isdigit() else "\\u0120" + piece if piece == "<mask>" else piece '
              'for piece in x.split()])'),),
        ("tests/test_data_vocabulary.py::test_decode_joins_mask_to_the_word_before_as_ofa",),
    ),
    Mutant(
        "decoded_code_and_bin_symbols_as_words",
        "<code_i> and <bin_i> tokens are decoded as words of their own (' a dog <code_5> <bin_7> runs'); OFA's "
        "decode_fn joins them to the word before (' a dog<code_5><bin_7> runs'), so a caption that holds one "
        "is scored as another text",
        (Edit("data/vocabulary.py",
              "decode([int(piece) if piece.isdigit() else piece for piece in x.split()])",
              'decode([int(piece) if piece.isdigit() else piece if piece in ("<unk>", "<mask>") else "\\u0120" + '
              'piece for piece in x.split()])'),),
        ("tests/test_data_vocabulary.py::test_decode_joins_code_bin_and_unk_symbols_to_the_word_before_as_ofa",),
    ),
    Mutant(
        "task_bpe_fails_on_symbol_pieces",
        "the task's BPE is fairseq's own GPT-2 decoder, which fails on a <code_i> or <bin_i> piece: "
        "fairseq-generate stops on a caption that holds one, where OFA's fork writes it as it is",
        (Edit("data/vocabulary.py", "        return OFAGPT2BPE(GPT2BPEConfig(", "        return GPT2BPE(GPT2BPEConfig("),),
        ("tests/test_data_vocabulary.py::test_the_tasks_bpe_decodes_symbol_pieces_as_ofas_fairseq_does",),
    ),
    Mutant(
        "mask_symbol_after_location_bins",
        "<mask> appended after the <bin_i> symbols instead of right after dict.txt (OFA's order): every "
        "<code_i> and <bin_i> id is one less than in OFA's checkpoints",
        (Edit("data/vocabulary.py", '    dictionary.add_symbol("<mask>")\n', ""),
         Edit("data/vocabulary.py",
              '        dictionary.add_symbol(f"<bin_{i}>")\n',
              '        dictionary.add_symbol(f"<bin_{i}>")\n    dictionary.add_symbol("<mask>")\n')),
        ("tests/test_data_vocabulary.py::test_dictionary_layout",),
    ),
    Mutant(
        "selected_cols_accept_negative_positions",
        "--selected-cols accepts a negative position, which then silently reads a field counted from the "
        "row's end",
        (Edit("data/tsv.py",
              "if len(positions) != num_columns or min(positions) < 0:",
              "if len(positions) != num_columns:"),),
        ("tests/test_data_tsv.py::test_selected_cols_pick_and_order_fields",),
    ),
    Mutant(
        "training_rows_in_file_order",
        "training rows are read in file order every epoch instead of reshuffled (fairseq seeds numpy per "
        "epoch): the same batches in the same order each epoch",
        (Edit("data/ofa_dataset.py",
              '        if self.split == "train":\n            return np.random.permutation(len(self))\n',
              '        if False:\n            return np.random.permutation(len(self))\n'),),
        ("tests/test_data_caption.py::test_training_rows_are_reshuffled_each_epoch_and_evaluation_rows_keep_"
         "file_order",),
    ),
    Mutant(
        "training_batches_reused_across_epochs",
        "fairseq may reuse the training split's first-epoch batch iterator for every epoch: later epochs "
        "only reorder the first epoch's batches, and a run resumed at an epoch boundary sees other "
        "batches than an uninterrupted one",
        (Edit("data/ofa_dataset.py",
              '        return self.split != "train"\n',
              "        return True\n"),),
        ("tests/test_data_caption.py::test_training_rows_are_reshuffled_each_epoch_and_evaluation_rows_keep_"
         "file_order",),
    ),
    Mutant(
        "scst_reward_against_first_reference_only",
        "SCST's reward scores each sampled caption against its image's first reference only instead of all "
        "of them (OFA's scst_loss passes every reference of the image to CIDEr-D)",
        (Edit("criterions/scst.py",
              "references = [refs for refs, image in zip(",
              "references = [refs[:1] for refs, image in zip("),),
        (f"{SCST}test_each_captions_reward_is_its_cider_d_against_all_its_images_references",),
    ),
    Mutant(
        "cider_references_lowercased",
        "CIDEr-D lower-cases the references but not the captions (OFA cleans both alike, case kept): a "
        "capitalised word of a reference never matches",
        (Edit("criterions/cider_reward.py",
              "cache[key] = [self._vector(ref) for ref in refs]",
              "cache[key] = [self._vector(ref.lower()) for ref in refs]"),),
        (f"{SCST}test_cider_d_tokenises_hypotheses_and_references_alike_as_ofa",),
    ),
    Mutant(
        "settings_false_on_the_command_line_ignored",
        "a task setting given on the command line as False or 0 counts as not given: the checkpoint's value "
        "(or OFA's default) replaces it",
        (Edit("tasks/settings.py", "        if getattr(cfg, name, None) is not None:\n",
              "        if getattr(cfg, name, None):\n"),),
        ("tests/test_checkpoint_round_trip.py::test_a_false_or_zero_setting_is_used_where_given",),
    ),
    Mutant(
        "settings_false_override_or_saved_skipped",
        "a task setting of False or 0 in --model-overrides or the checkpoint is skipped: "
        "{'imagenet_default_mean_and_std': False} loses to a checkpoint trained with True",
        (Edit("tasks/settings.py", "            if given.get(name) is not None:\n",
              "            if given.get(name):\n"),),
        ("tests/test_checkpoint_round_trip.py::test_a_false_or_zero_setting_is_used_where_given",),
    ),
    Mutant(
        "checkpoint_bpe_dir_kept_where_missing",
        "the checkpoint's --bpe-dir is used even where that folder is not on this machine, instead of the "
        "OFA vocabulary files shipped with ofa_mue",
        (Edit("tasks/settings.py",
              "    if sources.get(\"bpe_dir\") == checkpoint and not os.path.isdir(values[\"bpe_dir\"]):\n",
              "    if sources.get(\"bpe_dir\") == checkpoint and values[\"bpe_dir\"] is None:\n"),),
        ("tests/test_checkpoint_round_trip.py::test_a_checkpoints_bpe_dir_missing_on_this_machine_gives_way_to_"
         "the_shipped_files",),
    ),
    Mutant(
        "settings_from_a_checkpoint_of_another_task",
        "an evaluation takes the task settings of a checkpoint fine-tuned for another task (an SNLI-VE "
        "checkpoint's image size and lengths for captioning)",
        (Edit("tasks/settings.py", "    if saved.get(\"_name\") != task_name:\n", "    if not saved:\n"),),
        ("tests/test_checkpoint_round_trip.py::test_a_checkpoint_of_another_task_gives_no_settings",),
    ),
    Mutant(
        "ensemble_settings_from_the_last_checkpoint",
        "with an ensemble --path a.pt:b.pt the task settings come from the last checkpoint, not the first "
        "(fairseq builds the task from the first)",
        (Edit("tasks/settings.py", "utils.split_paths(checkpoint)[0]", "utils.split_paths(checkpoint)[-1]"),),
        ("tests/test_checkpoint_round_trip.py::test_an_ensembles_settings_come_from_its_first_checkpoint",),
    ),
    Mutant(
        "code_commit_dirty_when_clean",
        "a results file's commit is marked +dirty when git status lists nothing (a clean checkout)",
        (Edit("ofa_mue/provenance.py", "    return commit + (\"+dirty\" if changed else \"\")\n",
              "    return commit + (\"+dirty\" if changed is not None else \"\")\n"),),
        ("tests/test_provenance.py::test_code_commit_is_dirty_when_a_tracked_file_changed_only",),
    ),
    Mutant(
        "code_commit_dirty_for_untracked_files",
        "an untracked file (notes, a results folder) marks the commit +dirty, though the code run is the "
        "commit's",
        (Edit("ofa_mue/provenance.py", "_git(\"status\", \"--porcelain\", \"--untracked-files=no\")",
              "_git(\"status\", \"--porcelain\")"),),
        ("tests/test_provenance.py::test_code_commit_is_dirty_when_a_tracked_file_changed_only",),
    ),
    Mutant(
        "git_failure_output_taken_as_the_commit",
        "outside a git checkout (an installed package) the commit is git's empty output instead of 'unknown'",
        (Edit("ofa_mue/provenance.py",
              "    return done.stdout.strip() if done.returncode == 0 else None\n",
              "    return done.stdout.strip()\n"),),
        ("tests/test_provenance.py::test_code_commit_outside_a_git_checkout_is_unknown",),
    ),
    Mutant(
        "machine_torch_threads_are_interop_threads",
        "a results file records torch's inter-op thread count as its (intra-op) torch_threads",
        (Edit("ofa_mue/provenance.py", "        \"torch_threads\": torch.get_num_threads(),\n",
              "        \"torch_threads\": torch.get_num_interop_threads(),\n"),),
        ("tests/test_provenance.py::test_machine_info_records_torch_and_its_intra_op_threads",),
    ),
    Mutant(
        "provenance_date_with_microseconds",
        "a results file's date carries microseconds instead of being to the second",
        (Edit("ofa_mue/provenance.py", "datetime.datetime.now().isoformat(timespec=\"seconds\")",
              "datetime.datetime.now().isoformat()"),),
        ("tests/test_provenance.py::test_provenance_date_is_now_to_the_second",),
    ),
    Mutant(
        "describe_names_the_cpu_of_a_gpu_run",
        "the provenance line of a GPU measurement names the CPU instead of the GPU",
        (Edit("ofa_mue/provenance.py", "    hardware = machine.get(\"gpu\") or f\"{machine['cpu_model']}",
              "    hardware = f\"{machine['cpu_model']}"),),
        ("tests/test_provenance.py::test_describe_names_the_gpu_where_one_measured_else_the_cpu",),
    ),
    Mutant(
        "fingerprint_of_an_ensemble_reads_its_first_file",
        "an ensemble's checkpoint fingerprint hashes only its first file: a profile is not told that the "
        "other members' weights changed",
        (Edit("ofa_mue/provenance.py", "    for file in path.split(os.pathsep):\n",
              "    for file in path.split(os.pathsep)[:1]:\n"),),
        ("tests/test_exit_profile.py::test_a_checkpoint_fingerprint_is_the_documented_digest_of_each_file_of_an_"
         "ensemble",),
    ),
    Mutant(
        "fingerprint_tail_overlaps_the_head",
        "for a checkpoint between 1 and 2 MiB the fingerprint hashes the bytes the first and last MiB share "
        "twice, not the documented digest of the whole file",
        (Edit("ofa_mue/provenance.py", "handle.seek(max(FINGERPRINT_SPAN, size - FINGERPRINT_SPAN))",
              "handle.seek(size - FINGERPRINT_SPAN)"),),
        ("tests/test_exit_profile.py::test_a_checkpoint_fingerprint_is_the_documented_digest_of_each_file_of_an_"
         "ensemble",),
    ),
    Mutant(
        "replaced_image_error_names_the_scored_row",
        "--replace-images other reports a broken donor image at the line of the row being scored instead of "
        "the donor's, where the bad cell is",
        (Edit("ofa_mue/replaced_images.py", "self.dataset.reader.path, donor + 1, \"image\")",
              "self.dataset.reader.path, index + 1, \"image\")"),),
        ("tests/test_replaced_images.py::test_other_names_the_donor_rows_line_when_its_image_is_broken",),
    ),
    Mutant(
        "replaced_image_donor_shares_the_image",
        "--replace-images other takes the donor half the split away without checking its image differs: rows "
        "sharing a picture (SNLI-VE's several hypotheses per image) keep their own image",
        (Edit("ofa_mue/replaced_images.py", "        if reader[candidate][field] != own:\n",
              "        if candidate != index:\n"),),
        ("tests/test_replaced_images.py::test_other_skips_rows_with_the_same_image_and_refuses_a_single_image",),
    ),
    Mutant(
        "refusal_names_allowed_classes",
        "a refused checkpoint's error lists every non-tensor class it holds, the allowed ones (argparse.Namespace, "
        "numpy scalars) too, instead of the ones that were refused",
        (Edit("ofa_mue/checkpoint_loading.py",
              "for name in torch.serialization.get_unsafe_globals_in_checkpoint(path) if name not in allowed]",
              "for name in torch.serialization.get_unsafe_globals_in_checkpoint(path)]"),),
        ("tests/test_checkpoint_loading.py::test_unexpected_global_is_refused_naming_file_and_class",),
    ),
    Mutant(
        "layer_shape_mismatches_left_to_torch",
        "a checkpoint of the same width and vocabulary whose layers have other shapes is not recognised: torch's "
        "list of size mismatches (a traceback) instead of the error naming the architecture, the first tensor "
        "and their count",
        (Edit("models/ofa.py",
              "    mismatched = [k for k in own if k in state_dict and state_dict[k].shape != own[k].shape]\n",
              "    mismatched = []\n"),),
        ("tests/test_model_architecture.py::"
         "test_checkpoint_with_other_layer_shapes_is_refused_naming_the_first_and_their_count",),
    ),
    Mutant(
        "checkpoint_settings_read_unpickles_everything",
        "reading a checkpoint's task and model settings (before fairseq loads it) unpickles it fully: a hostile "
        "checkpoint runs its code before the allow-list is ever consulted",
        (Edit("ofa_mue/checkpoint_loading.py",
              'state = torch.load(path, map_location="cpu", mmap=zipfile.is_zipfile(path))',
              'state = torch.load(path, map_location="cpu", mmap=zipfile.is_zipfile(path), weights_only=False)'),),
        ("tests/test_checkpoint_loading.py::test_reading_a_checkpoints_settings_goes_through_the_allow_list",),
    ),
    Mutant(
        "shape_mismatch_sizes_swapped",
        "the shape-mismatch error gives the model's shape as the checkpoint's and the other way round",
        (Edit("models/ofa.py",
              'f"{len(mismatched)} shape mismatches (first: {k} is {list(state_dict[k].shape)} "\n'
              '                           f"in the checkpoint, {list(own[k].shape)} in the model)")',
              'f"{len(mismatched)} shape mismatches (first: {k} is {list(own[k].shape)} "\n'
              '                           f"in the checkpoint, {list(state_dict[k].shape)} in the model)")'),),
        ("tests/test_model_architecture.py::"
         "test_checkpoint_with_other_layer_shapes_is_refused_naming_the_first_and_their_count",),
    ),
    Mutant(
        "frozen_batch_norm_trains",
        "--freeze-resnet's BatchNorm layers put back in training mode by model.train(): they normalise with "
        "the batch's statistics and overwrite the checkpoint's",
        (Edit("models/image_embedding.py",
              "                    module.eval()\n",
              "                    pass\n"),),
        ("tests/test_distributed_training.py::test_frozen_batch_norm_keeps_statistics_and_affine_parameters",),
    ),
    Mutant(
        "verified_drafts_accepted_after_a_disagreement",
        "--exit-verify accepts every drafted token the full model agrees with, also those after the first it "
        "rejects (whose choices were made after a wrong token): the output is no longer the full model's",
        (Edit("ofa_mue/core/verified_generator.py",
              "        agreed = _leading(choice[:, :drafts].eq(drafted))\n",
              "        agreed = choice[:, :drafts].eq(drafted).long().sum(1)\n"),),
        ("tests/test_lossless_decoding.py::test_verified_greedy_search_equals_fairseqs_greedy_search[3]",
         "tests/test_lossless_decoding.py::test_cache_holds_the_full_models_states_of_accepted_tokens",
         "tests/test_lossless_replay.py::test_the_replay_drafts_and_accepts_exactly_what_was_recorded[mue]",
         "tests/test_lossless_replay.py::test_the_replay_drafts_and_accepts_exactly_what_was_recorded[static]"),
    ),
    Mutant(
        "scst_baseline_includes_own_reward",
        "SCST's baseline is the mean reward of all K captions of the image, the caption's own included, "
        "instead of OFA's mean of the other K - 1: every advantage shrinks by (K - 1) / K",
        (Edit("criterions/scst.py",
              "    return rewards - (rewards.sum() - rewards) / (count - 1)\n",
              "    return rewards - rewards.mean()\n"),),
        (f"{SCST}test_leave_one_out_baseline",),
    ),
    Mutant(
        "ofa_embeddings_scaled_by_sqrt_width",
        "OFA's architectures built without its no_scale_embedding default: token and image embeddings "
        "multiplied by sqrt(width) (fairseq's transformer default), which no parameter's shape shows",
        (Edit("models/ofa.py",
              '("scale_resids", False), ("no_scale_embedding", True),',
              '("scale_resids", False), ("no_scale_embedding", False),'),),
        (ARCHITECTURE + "test_embeddings_enter_unscaled_as_in_ofa[ofa_base]",
         ARCHITECTURE + "test_embeddings_enter_unscaled_as_in_ofa[ofa_huge]"),
    ),
    Mutant(
        "hf_port_embedding_scale_inverted",
        "a Hugging Face port checkpoint converted with its scale_embedding read as fairseq's "
        "no_scale_embedding (not turned round): the converted model scales its embeddings by sqrt(width)",
        (Edit("models/hf_mapping.py",
              'no_scale_embedding=not c["scale_embedding"],',
              'no_scale_embedding=c["scale_embedding"],'),),
        ("tests/test_convert.py::test_the_ports_unscaled_embeddings_stay_unscaled_both_ways",),
    ),
    Mutant(
        "report_image_and_text_layers_swapped",
        "the report's table prints the text stream's mean layers under image and the image stream's under text",
        (Edit("ofa_mue/report.py",
              "{mue['image_layers']:.2f} / {mue['text_layers']:.2f} /",
              "{mue['text_layers']:.2f} / {mue['image_layers']:.2f} /"),),
        ("tests/test_reporting_audit.py::test_report_table_puts_each_figure_under_its_own_column",),
    ),
    Mutant(
        "timing_ratio_of_medians",
        "a measured reduction taken as the ratio of the two arms' median times instead of the median of the "
        "paired per-repetition ratios (the machine's slow phases no longer cancel out)",
        (Edit("ofa_mue/timing.py",
              '    return {"median": statistics.median(ratios), "q1"',
              '    return {"median": statistics.median(numerator) / statistics.median(denominator), "q1"'),),
        ("tests/test_reproduce.py::test_a_reduction_is_the_median_of_paired_ratios",),
    ),
    Mutant(
        "timing_arms_not_interleaved",
        "the timed arms run in the same order every repetition (no rotation): the arm after the reference "
        "always runs in the reference's wake",
        (Edit("ofa_mue/timing.py",
              "    shift = round_index % len(names)\n",
              "    shift = 0\n"),),
        ("tests/test_reproduce.py::test_timing_warms_every_arm_then_interleaves_in_rotating_order",),
    ),
    Mutant(
        "sweep_measured_quartiles_not_flipped",
        "a sweep row's measured reduction (1 - time ratio) takes its lower quartile from the ratio's lower "
        "quartile: the interval printed as [q1, q3] is upside down",
        (Edit("ofa_mue/sweep.py",
              '"measured_reduction_q1": 1.0 - ratio["q3"],\n            "measured_reduction_q3": 1.0 - ratio["q1"]}',
              '"measured_reduction_q1": 1.0 - ratio["q1"],\n            "measured_reduction_q3": 1.0 - ratio["q3"]}'),),
        ("tests/test_reproduce.py::test_a_sweep_rows_measured_reduction_has_its_quartiles_in_order",),
    ),
    Mutant(
        "report_wall_clock_ratio_inverted",
        "the report's wall-clock reduction computed as 1 - full seconds / MuE seconds (the ratio turned round): "
        "a run 40% faster reads as 67% slower",
        (Edit("ofa_mue/report.py", 'measured = 1.0 - mue["seconds"] / full["seconds"]',
              'measured = 1.0 - full["seconds"] / mue["seconds"]'),),
        ("tests/test_reporting_audit.py::test_report_table_puts_each_figure_under_its_own_column",),
    ),
    Mutant(
        "report_caption_retention_on_bleu4",
        "the report's caption retention (the paper's quality kept) computed on BLEU-4 instead of CIDEr",
        (Edit("ofa_mue/report.py", 'main = names[-1] if task == "caption" else names[0]', "main = names[0]"),),
        ("tests/test_reporting_audit.py::"
         "test_report_caption_retention_is_cider_and_each_run_has_its_own_thresholds_and_guarantee",),
    ),
    Mutant(
        "report_retention_printed_as_a_fraction",
        "the report's retention printed as a fraction with a percent sign (75% kept reads 0.8%)",
        (Edit("ofa_mue/report.py", "{100 * mue[main] / full[main]:.1f}%", "{mue[main] / full[main]:.1f}%"),),
        ("tests/test_reporting_audit.py::"
         "test_report_caption_retention_is_cider_and_each_run_has_its_own_thresholds_and_guarantee",),
    ),
    Mutant(
        "report_retention_inverted",
        "the report's retention computed as full / MuE (75% kept reads 133%)",
        (Edit("ofa_mue/report.py", "{100 * mue[main] / full[main]:.1f}%", "{100 * full[main] / mue[main]:.1f}%"),),
        ("tests/test_reporting_audit.py::"
         "test_report_caption_retention_is_cider_and_each_run_has_its_own_thresholds_and_guarantee",),
    ),
    Mutant(
        "report_threshold_one_shown_off",
        "the report prints a threshold of exactly 1.0 as off (only thresholds above 1 disable an exit)",
        (Edit("ofa_mue/report.py", "if value <= 1.0 else", "if value < 1.0 else"),),
        ("tests/test_reporting_audit.py::"
         "test_report_caption_retention_is_cider_and_each_run_has_its_own_thresholds_and_guarantee",),
    ),
    Mutant(
        "report_disabled_threshold_shown_as_a_number",
        "the report prints a disabled exit's threshold (above 1) as a number instead of off",
        (Edit("ofa_mue/report.py", 'f"{name} {value:g}" if value <= 1.0 else f"{name} off"', 'f"{name} {value:g}"'),),
        ("tests/test_reporting_audit.py::"
         "test_report_caption_retention_is_cider_and_each_run_has_its_own_thresholds_and_guarantee",),
    ),
    Mutant(
        "report_guarantee_of_the_first_run",
        "every MuE run's line in the report states the first run's guarantee: the uncertified calibration "
        "reads as certified",
        (Edit("ofa_mue/report.py", "lines.append(guarantee_line(label, mue))",
              "lines.append(guarantee_line(label, runs[0][1]))"),),
        ("tests/test_reporting_audit.py::"
         "test_report_caption_retention_is_cider_and_each_run_has_its_own_thresholds_and_guarantee",),
    ),
    Mutant(
        "report_runs_of_different_sizes_compared",
        "the report compares a full-model run and a MuE run scored on different numbers of examples",
        (Edit("ofa_mue/report.py", 'if full["examples"] != mue["examples"]:', "if False:"),),
        ("tests/test_reporting_audit.py::test_report_refuses_runs_scored_on_different_rows",),
    ),
    Mutant(
        "timing_third_quartile_as_median",
        "the time ratio's third quartile reported as its median",
        (Edit("ofa_mue/timing.py", '"median": statistics.median(ratios)', '"median": quartiles[2]'),),
        ("tests/test_reproduce.py::test_a_reduction_is_the_median_of_paired_ratios",),
    ),
    Mutant(
        "timing_warmup_timed",
        "the warm-up round (cold caches, lazy initialisation) is timed and kept among the repetitions",
        (Edit("ofa_mue/timing.py",
              "    for _ in range(warmup):\n        for name in names:\n            configs[name]()\n"
              "    times: Dict[str, List[float]] = {name: [] for name in names}\n",
              "    times: Dict[str, List[float]] = {name: [] for name in names}\n"
              "    for _ in range(warmup):\n        for name in names:\n            begin = clock()\n"
              "            configs[name]()\n            times[name].append(clock() - begin)\n"),),
        ("tests/test_reproduce.py::test_timing_warms_every_arm_then_interleaves_in_rotating_order",
         "tests/test_timing_protocol.py::test_sweep_times_each_timed_row_against_the_full_model"),
    ),
    Mutant(
        "timing_spread_not_relative",
        "a timing's spread is max - min in seconds instead of relative to the median",
        (Edit("ofa_mue/timing.py", '"spread": (max(values) - min(values)) / median if median else 0.0',
              '"spread": (max(values) - min(values))'),),
        ("tests/test_timing_protocol.py::test_spread_is_the_range_over_the_median",),
    ),
    Mutant(
        "timing_spread_is_the_interquartile_range",
        "a timing's spread is the interquartile range over the median instead of the whole range (an outlier "
        "repetition is hidden)",
        (Edit("ofa_mue/timing.py", '"spread": (max(values) - min(values)) / median if median else 0.0',
              '"spread": (statistics.quantiles(values, n=4)[2] - statistics.quantiles(values, n=4)[0]) / median '
              "if median else 0.0"),),
        ("tests/test_timing_protocol.py::test_spread_is_the_range_over_the_median",),
    ),
    Mutant(
        "timing_one_repetition_accepted",
        "any positive number of timing repetitions is accepted: a median of 1 to 4 runs",
        (Edit("ofa_mue/timing.py", "if repetitions != 0 and repetitions < MIN_REPETITIONS:", "if repetitions < 0:"),),
        ("tests/test_timing_protocol.py::test_repetitions_are_zero_or_at_least_five",),
    ),
    Mutant(
        "timing_budget_stops_after_one_repetition",
        "a spent time budget stops the timing after the first repetition instead of the third",
        (Edit("ofa_mue/timing.py", "repetition >= 2 and time.perf_counter()",
              "repetition >= 0 and time.perf_counter()"),),
        ("tests/test_timing_protocol.py::test_a_time_budget_still_leaves_three_repetitions",),
    ),
    Mutant(
        "timing_arms_without_warmup",
        "the evaluation arms are timed without their warm-up round (the cold first run is timed) while the "
        "result still says one warm-up round",
        (Edit("ofa_mue/timing.py", "items()}, repetitions, warmup, device)", "items()}, repetitions, 0, device)"),),
        ("tests/test_timing_protocol.py::test_sweep_times_each_timed_row_against_the_full_model",),
    ),
    Mutant(
        "timing_arm_seconds_of_the_reference",
        "every evaluation arm reports the reference arm's seconds (median and spread) as its own",
        (Edit("ofa_mue/timing.py", '{"seconds": time_stats(times[name]), "ratio"',
              '{"seconds": time_stats(times[reference]), "ratio"'),),
        ("tests/test_timing_protocol.py::test_sweep_times_each_timed_row_against_the_full_model",
         "tests/test_timing_protocol.py::test_sweep_timing_takes_its_rows_and_zero_repetitions_times_nothing"),
    ),
    Mutant(
        "timing_ratio_inverted",
        "an evaluation arm's time ratio taken as reference / arm: a setting twice as fast reads as 100% slower",
        (Edit("ofa_mue/timing.py", "ratio_stats(times[name], times[reference])",
              "ratio_stats(times[reference], times[name])"),),
        ("tests/test_timing_protocol.py::test_sweep_times_each_timed_row_against_the_full_model",),
    ),
    Mutant(
        "sweep_timed_against_the_last_timed_row",
        "the sweep's measured reductions are taken against the last timed setting instead of the full model",
        (Edit("ofa_mue/sweep.py", "arm_name(rows[0]), repetitions=repetitions",
              "list(arms)[-1], repetitions=repetitions"),),
        ("tests/test_timing_protocol.py::test_sweep_times_each_timed_row_against_the_full_model",),
    ),
    Mutant(
        "sweep_timing_rows_ignored",
        "the sweep times every row of the split whatever --timing-rows says",
        (Edit("ofa_mue/sweep.py", "repetitions=repetitions, rows=timing_rows)",
              "repetitions=repetitions, rows=None)"),),
        ("tests/test_timing_protocol.py::test_sweep_timing_takes_its_rows_and_zero_repetitions_times_nothing",),
    ),
    Mutant(
        "sweep_timing_repetitions_ignored",
        "the sweep times 5 repetitions whatever --timing-repetitions says",
        (Edit("ofa_mue/sweep.py", "arm_name(rows[0]), repetitions=repetitions, rows",
              "arm_name(rows[0]), rows"),),
        ("tests/test_timing_protocol.py::test_sweep_times_each_timed_row_against_the_full_model",),
    ),
    Mutant(
        "merged_shards_score_a_row_twice",
        "merging shard files checks rows for repeats only within one file: a row two shards scored (shards "
        "run with different --batch-size) is counted twice in the merged split",
        (Edit("ofa_mue/sharding.py",
              "            if row in owner:\n",
              "            if owner.get(row) == shard[\"path\"]:\n"),),
        ("tests/test_sharded_evaluation.py::test_shards_that_repeat_or_miss_a_row_are_refused"
         "[<lambda>-row 1 is in .*shard0-of-2.json and in .*shard1-of-2.json]",),
    ),
    Mutant(
        "refused_options_at_their_default_accepted",
        "an option the inference commands cannot honour is refused only when given at another value than "
        "fairseq's default, so a user's --lr-scheduler fixed is accepted and ignored",
        (Edit("ofa_mue/evaluate.py",
              "getattr(given, action.dest) is not _NOT_GIVEN:",
              "getattr(given, action.dest) not in (_NOT_GIVEN, parser.get_default(action.dest)):"),),
        ("tests/test_ofa_habits_generation.py::test_training_options_are_refused_by_the_inference_commands"
         "[flags4---lr-scheduler-ofa_mue.evaluate]",),
    ),
    Mutant(
        "step_quantile_rounded_down",
        "--exit-granularity step stops a call once a share of its tokens rounded down (not up) has chosen to "
        "stop: fewer tokens than the quantile asks for decide for all",
        (Edit("ofa_mue/core/exit_granularity.py",
              "        return max(1, math.ceil(self.quantile * counted - 1e-9))\n",
              "        return max(1, int(self.quantile * counted))\n"),),
        ("tests/test_exit_granularity.py::test_step_quantile_stops_once_that_share_chose",),
    ),
    Mutant(
        "layer_weights_not_normalised",
        "--layer-weights used as given, not normalised to sum 1: the layer-wise loss (and so the effective "
        "learning rate) grows with the weights' sum",
        (Edit("criterions/layerwise.py",
              "    return [w / total for w in weights]\n",
              "    return list(weights)\n"),),
        (LAYERWISE + "test_layer_weights_are_normalised",),
    ),
    Mutant(
        "caption_sweep_keeps_first_exit_policy",
        "the caption task's reused beam search keeps the exit policy it was built with: every point of a "
        "caption sweep or calibration after the first is generated with the first point's thresholds",
        (Edit("tasks/caption.py",
              "        generator.policy = self.exit_policy(models[0])  # the options may change between evaluations (sweeps)\n",
              ""),),
        ("tests/test_training_and_evaluation_cli.py::test_each_caption_sweep_point_is_generated_with_its_own_thresholds",),
    ),
    Mutant(
        "restricted_families_vocabulary_lacks_question_words",
        "demo data of some SNLI-VE families only (--snli-families, demo.sh's DEMO_SNLI_FAMILIES) get a "
        "vocabulary without the grounding questions' words: demo.sh's question stage stops on its first "
        "question about a region or relation",
        (Edit("demo/generate.py",
              "        corpus += questions\n",
              "        pass\n"),),
        ("tests/test_demo_data.py::test_snli_families_restrict_the_hypotheses_and_nothing_else",),
    ),
    Mutant(
        "significance_interval_narrower_than_stated",
        "the paired bootstrap interval computed at 2 * confidence - 1 (alpha split twice): a 90% interval "
        "reported as 95%, so a difference the split cannot tell from noise reads as significant",
        (Edit("ofa_mue/significance.py",
              "confidence_level=confidence,",
              "confidence_level=2 * confidence - 1,"),),
        ("tests/test_significance.py::test_interval_is_as_wide_as_its_stated_confidence",),
    ),
    Mutant(
        "replaced_text_takes_the_donors_premise",
        "--replace-text other gives each row the donor row's whole text, its premise included, instead of "
        "its hypothesis only: with the premise in the prompt (OFA's --add-caption) the premise no longer "
        "describes the row's own image",
        (Edit("ofa_mue/replaced_text.py",
              "        return {**self.reader[index], FIELD: self.reader[self.donor(index)][FIELD]}\n",
              "        own = self.reader[index]\n"
              "        return {**self.reader[self.donor(index)], \"image\": own[\"image\"], \"label\": own[\"label\"]}\n"),),
        ("tests/test_replaced_images.py::test_replace_text_keeps_each_rows_own_premise",),
    ),
    Mutant(
        "decay_threshold_kept_from_the_first_call",
        "the decaying decoder threshold computed once per exit session, at the first decoder call's "
        "positions: in incremental decoding every later token is judged at the first token's (highest) "
        "threshold",
        (Edit("ofa_mue/core/exit_policy.py",
              "        if self._last_threshold is None or self._last_threshold[0] is not positions:\n",
              "        if self._last_threshold is None:\n"),),
        (POLICY + "test_decaying_threshold_follows_the_positions_of_each_decoder_call",),
    ),
    Mutant(
        "time_share_depths_swapped",
        "the expected time reduction's encoder layers counted over the decoder's depth and the decoder's "
        "over the encoder's (unseen where both depths are equal, as in ofa_base; wrong for ofa_huge's 24 + 12)",
        (Edit("ofa_mue/core/time_reduction.py",
              "    encoder = example.encoder_layers() / encoder_depth\n",
              "    encoder = example.encoder_layers() / decoder_depth\n"),
         Edit("ofa_mue/core/time_reduction.py",
              "    decoder = example.decoder_layers(scored_positions) / decoder_depth if counted else 1.0\n",
              "    decoder = example.decoder_layers(scored_positions) / encoder_depth if counted else 1.0\n")),
        (POLICY + "test_encoder_and_decoder_terms_are_each_over_their_own_depth",),
    ),
    Mutant(
        "last_partial_batch_dropped",
        "the evaluation's batches leave out the last, smaller batch (a drop-last batching): rows at the end "
        "of the split are silently never scored",
        (Edit("data/ofa_dataset.py",
              "        return [indices[start:start + max_sentences] for start in range(0, len(indices), max_sentences)]\n",
              "        return [indices[start:start + max_sentences]\n"
              "                for start in range(0, len(indices) - max_sentences + 1, max_sentences)]\n"),),
        ("tests/test_replaced_images.py::test_evaluate_with_replaced_text_scores_every_row_and_says_so",),
    ),
    Mutant(
        "compare_full_runs_the_exits",
        "predict --compare-full on a caption checkpoint prints the exits' own caption as the full model's "
        "(its generator keeps the task's exit policy instead of every exit off)",
        (Edit("ofa_mue/predict.py",
              "            self.full_generator.policy = MuEThresholds()  # every exit off: the full model\n",
              ""),),
        ("tests/test_predict.py::test_compare_full_gives_the_full_models_captions_beside_the_exits",),
    ),
    Mutant(
        "ema_eval_ignored",
        "--ema-eval (OFA's evaluate.py: the checkpoint's EMA weights) is accepted but the model weights "
        "are evaluated, and a checkpoint without EMA weights is not refused",
        (Edit("ofa_mue/evaluate.py",
              "        load_ema_weights(models, cfg.common_eval.path)\n",
              "        pass\n"),),
        (f"{EVAL_HABITS}test_ema_eval_evaluates_the_checkpoints_ema_weights",
         f"{EVAL_HABITS}test_ema_eval_of_a_checkpoint_without_ema_weights_is_refused[evaluate]",
         f"{EVAL_HABITS}test_ema_eval_of_a_checkpoint_without_ema_weights_is_refused[reproduce]"),
    ),
    Mutant(
        "calibration_table_reused_across_ema_weights",
        "a calibration table of a checkpoint's model weights is reused for its EMA weights (--ema-eval): "
        "the profile is chosen on another model's results",
        (Edit("ofa_mue/calibration_table.py",
              '    key.update(weights_record(getattr(setup, "ema", False)))',
              "    pass"),),
        (f"{EVAL_HABITS}test_ema_eval_evaluates_the_checkpoints_ema_weights",),
    ),
    Mutant(
        "zero_shot_takes_the_checkpoints_settings",
        "--zero-shot takes the task settings not given from the checkpoint, where OFA's evaluate.py sets up "
        "a zero-shot task from the command line alone (OFA's defaults)",
        (Edit("ofa_mue/evaluate.py",
              "        task_cfg.inference_checkpoint = None  # no settings from the checkpoint\n",
              "        pass\n"),),
        (f"{EVAL_HABITS}test_zero_shot_takes_no_task_settings_from_the_checkpoint",),
    ),
    Mutant(
        "zero_shot_caption_evaluated",
        "--zero-shot with --task caption evaluates as without it, where OFA has no zero-shot caption "
        "evaluation (NotImplementedError)",
        (Edit("ofa_mue/evaluate.py",
              "    if task_cfg._name not in ZERO_SHOT_TASKS:\n",
              "    if False:\n"),),
        (f"{EVAL_HABITS}test_zero_shot_caption_evaluation_is_refused",),
    ),
    Mutant(
        "profile_forgets_its_ema_weights",
        "calibrate --ema-eval writes an exit profile that does not say it was calibrated on the EMA weights, "
        "so a run of the model weights with it is not told its guarantee was measured on other weights",
        (Edit("ofa_mue/calibrate.py", '"decoder_exit_tau": cfg.decoder_exit_tau, **weights_record(setup.ema)}',
              '"decoder_exit_tau": cfg.decoder_exit_tau}'),),
        (f"{EVAL_HABITS}test_a_profile_calibrated_on_ema_weights_warns_a_run_of_the_other_weights",),
    ),
    Mutant(
        "profile_weights_caveat_never_given",
        "an exit profile calibrated on a checkpoint's EMA weights runs on its model weights (or the reverse) "
        "with the profile's guarantee stated as if it held there",
        (Edit("ofa_mue/core/exit_profile.py", "    if calibrated == run:\n        return None\n",
              "    if True:\n        return None\n"),),
        (f"{EVAL_HABITS}test_a_profile_calibrated_on_ema_weights_warns_a_run_of_the_other_weights",),
    ),
    Mutant(
        "profile_checkpoint_caveat_ignores_the_fingerprint",
        "an exit profile calibrated on checkpoint_best.pt runs on that file overwritten by further training "
        "(other weights) with the profile's quality and guarantee stated as if they held there",
        (Edit("ofa_mue/core/exit_profile.py",
              "    if calibrated is None or calibrated == checkpoint_fingerprint(checkpoint):\n",
              "    if True:\n"),),
        ("tests/test_exit_profile.py::test_a_profile_is_caveated_on_a_checkpoint_with_other_weights_only",
         f"{EVAL_HABITS}test_a_profile_warns_a_run_of_its_checkpoint_overwritten_not_moved",
         "tests/test_predict.py::test_a_profile_of_other_weights_warns"),
    ),
    Mutant(
        "profile_forgets_its_checkpoint_fingerprint",
        "calibrate writes an exit profile without its checkpoint's fingerprint, so a run of other weights at "
        "the calibrated path is not told that the profile's guarantee was measured on other weights",
        (Edit("ofa_mue/calibrate.py", '"checkpoint_fingerprint": context.get("checkpoint_fingerprint"),',
              '"checkpoint_fingerprint": None,'),),
        (f"{EVAL_HABITS}test_a_profile_warns_a_run_of_its_checkpoint_overwritten_not_moved",),
    ),
    Mutant(
        "checkpoint_fingerprint_hashes_the_path",
        "the checkpoint fingerprint hashes the file's path too, so a profile applied to its checkpoint moved "
        "or copied elsewhere is told its guarantee was measured on other weights",
        (Edit("ofa_mue/provenance.py", '                digest.update(f"{size}\\n".encode())\n',
              '                digest.update(f"{file}{size}\\n".encode())\n'),),
        ("tests/test_exit_profile.py::test_a_checkpoint_fingerprint_reads_its_size_and_both_ends_only",
         f"{EVAL_HABITS}test_a_profile_warns_a_run_of_its_checkpoint_overwritten_not_moved"),
    ),
    Mutant(
        "evaluation_caveat_logged_at_info",
        "evaluate logs an exit profile's statement at WARNING for a batch-size or split caveat only: a run "
        "of other weights (another checkpoint, the EMA weights) is told at INFO, among the progress lines",
        (Edit("ofa_mue/evaluate.py", "        caveated = any(summary[\"exit_profile\"].get(name) for name in CAVEATS)\n",
              "        caveated = summary[\"exit_profile\"][\"batch_size_caveat\"] or "
              "summary[\"exit_profile\"][\"split_caveat\"]\n"),),
        (f"{EVAL_HABITS}test_a_profile_warns_a_run_of_its_checkpoint_overwritten_not_moved",),
    ),
    Mutant(
        "session_decoder_tests_after_the_last_layer",
        "the exit session counts a decoder exit test after every layer a token ran, the last decoder layer "
        "included (where no test runs): the FLOPs of the exit tests overstated",
        (Edit("ofa_mue/core/early_exit.py", "c.depth - 1 if c.tested else 0", "c.depth if c.tested else 0"),),
        (f"{FLOPS}test_session_sums_each_samples_decoder_calls_by_hand",),
    ),
    Mutant(
        "session_decoder_rows_summed_over_call_lengths",
        "the exit session adds the most rows per call of each call length instead of taking the largest: a "
        "lossless run (drafting steps and verification passes) counts the encoder's keys/values twice",
        (Edit("ofa_mue/core/early_exit.py", 'torch.maximum(sums["decoder_rows"], rows.amax(0))',
              'sums["decoder_rows"] + rows.amax(0)'),),
        (f"{FLOPS}test_session_sums_each_samples_decoder_calls_by_hand",),
    ),
    Mutant(
        "session_deepest_token_counts_padding",
        "the exit session's deepest decoder token of a sample includes tokens that do not count (padding, "
        "finished rows): the cross-attention keys/values counted for more layers than ran",
        (Edit("ofa_mue/core/early_exit.py", "deepest = (layers * weights).amax(-1)", "deepest = layers.amax(-1)"),),
        (f"{FLOPS}test_session_sums_each_samples_decoder_calls_by_hand",),
    ),
    Mutant(
        "session_stream_tests_swapped",
        "the exit session reports the image stream's exit tests as the text stream's and the other way round",
        (Edit("ofa_mue/core/early_exit.py",
              'image_tests, text_tests = stream_tests.get("image", zeros), stream_tests.get("text", zeros)',
              'image_tests, text_tests = stream_tests.get("text", zeros), stream_tests.get("image", zeros)'),),
        (f"{FLOPS}test_session_sums_each_samples_decoder_calls_by_hand",),
    ),
    Mutant(
        "session_key_sum_weighted_by_layers",
        "the exit session's sum of the decoder tokens' self-attention keys is weighted by the layers each "
        "token ran (the key-layer sum) instead of counted once per token",
        (Edit("ofa_mue/core/early_exit.py", "index_add_(0, source, keys * tokens)",
              "index_add_(0, source, keys * layer_sum)"),),
        (f"{FLOPS}test_session_sums_each_samples_decoder_calls_by_hand",),
    ),
    Mutant(
        "step_quantile_of_every_place",
        "--exit-granularity step takes its quantile of every place of the call, padding included, instead of "
        "the counted tokens: a padded call runs deeper than the quantile asks",
        (Edit("ofa_mue/core/exit_granularity.py", "tokens_to_stop(int(counted.sum()))",
              "tokens_to_stop(counted.numel())"),),
        ("tests/test_exit_granularity.py::test_step_exits_do_not_count_padding",),
    ),
    Mutant(
        "launch_flops_measured_once_for_every_width",
        "--exit-granularity auto measures the launch cost once per device, not per width: a second model of "
        "another width decides packing with the first one's figure",
        (Edit("ofa_mue/core/exit_granularity.py", "key = (str(device), dim)", "key = (str(device), 0)"),),
        ("tests/test_exit_granularity.py::test_launch_flops_are_a_launchs_time_at_the_layer_shapes_rate_per_width",),
    ),
    Mutant(
        "launch_flops_product_counted_once_per_multiply_add",
        "--exit-granularity auto's measured product rate counts one FLOP per multiply-add (the FLOPs count "
        "two): the launch cost is halved and packing chosen where it does not pay",
        (Edit("ofa_mue/core/exit_granularity.py", "rate = 2 * 64 * dim * 4 * dim", "rate = 64 * dim * 4 * dim"),),
        ("tests/test_exit_granularity.py::test_launch_flops_are_a_launchs_time_at_the_layer_shapes_rate_per_width",),
    ),
    Mutant(
        "verified_drafted_count_leaves_out_the_drafted_eos",
        "--exit-verify counts a round's drafts up to but not including a drafted end of sentence: the "
        "acceptance rate overstated",
        (Edit("ofa_mue/core/verified_generator.py", "drafted=(drafted_eos + 1).clamp(max=drafts)",
              "drafted=drafted_eos.clamp(max=drafts)"),),
        ("tests/test_lossless_decoding.py::"
         "test_verification_counts_follow_each_rounds_drafts_and_the_full_models_choices",),
    ),
    Mutant(
        "verified_accepted_counts_drafts_after_the_end",
        "--exit-verify counts as accepted the drafts the full model agrees with after the end of sentence "
        "(not part of the output): the acceptance rate overstated",
        (Edit("ofa_mue/core/verified_generator.py", "accepted=torch.minimum(agreed, gained)", "accepted=agreed"),),
        ("tests/test_lossless_decoding.py::"
         "test_verification_counts_follow_each_rounds_drafts_and_the_full_models_choices",),
    ),
    Mutant(
        "verified_counts_to_the_row_not_the_sample",
        "--exit-verify adds a round's counts to the sample numbered as the row: once a sample has finished "
        "(left the batch) the others' counts go to the wrong samples",
        (Edit("ofa_mue/core/verified_generator.py", "zip(self.sample.tolist(), drafted.tolist()",
              "zip(range(len(self.sample)), drafted.tolist()"),),
        ("tests/test_lossless_decoding.py::"
         "test_verification_counts_follow_each_rounds_drafts_and_the_full_models_choices",),
    ),
    Mutant(
        "verified_mean_accepted_length_per_draft",
        "--exit-verify's mean accepted length divides the accepted drafts by the drafted ones (the acceptance "
        "rate again) instead of by the verification passes",
        (Edit("ofa_mue/core/verified_generator.py", '"mean_accepted_length": totals["accepted"] / verifications',
              '"mean_accepted_length": totals["accepted"] / totals["drafted"]'),),
        ("tests/test_lossless_decoding.py::"
         "test_verification_counts_follow_each_rounds_drafts_and_the_full_models_choices",),
    ),
    Mutant(
        "verified_ignores_temperature",
        "--exit-verify's full model ignores --temperature: its log-probabilities, the scores of its captions, are "
        "those at temperature 1, not fairseq's at the temperature asked",
        (Edit("ofa_mue/core/verified_generator.py",
              "        if self.generator.temperature != 1.0:\n"
              "            logits = logits.div_(self.generator.temperature)\n", ""),),
        ("tests/test_lossless_decoding.py::"
         "test_verified_greedy_search_honours_temperature_and_unnormalized_scores",),
    ),
    Mutant(
        "verified_ignores_max_len_a",
        "--exit-verify ignores --max-len-a: its captions stop at --max-len-b tokens, not at max-len-a x the "
        "source length + max-len-b as fairseq's",
        (Edit("ofa_mue/core/verified_generator.py",
              "max_len = min(int(self.max_len_a * src_len + self.max_len_b), self.max_len - 1)",
              "max_len = min(int(self.max_len_b), self.max_len - 1)"),),
        ("tests/test_lossless_decoding.py::test_verified_greedy_search_honours_max_len_a_and_unkpen",),
    ),
    Mutant(
        "verified_ignores_unnormalized",
        "--exit-verify ignores --unnormalized: hypothesis scores are still divided by length ** lenpen",
        (Edit("ofa_mue/core/verified_generator.py", "            if generator.normalize_scores:\n",
              "            if True:\n"),),
        ("tests/test_lossless_decoding.py::"
         "test_verified_greedy_search_honours_temperature_and_unnormalized_scores",),
    ),
    Mutant(
        "verified_min_len_above_max_len_decoded",
        "--exit-verify decodes with a --min-len above the maximum length (fairseq's generator asserts against it) "
        "instead of refusing it: tokens of -inf score where neither a word nor the end may come",
        (Edit("ofa_mue/core/verified_generator.py",
              "        if self.min_len > max_len:\n"
              '            raise ConfigError(f"--min-len {self.min_len} is above the maximum length {max_len}")\n',
              ""),),
        ("tests/test_lossless_decoding.py::test_what_verification_cannot_honour_is_refused_before_it_decodes",),
    ),
    Mutant(
        "verified_match_source_len_ignored",
        "--exit-verify accepts --match-source-len and ignores it (greedy search up to the maximum length)",
        (Edit("ofa_mue/core/verified_generator.py",
              "if type(self.search) is not search.BeamSearch or self.match_source_len:",
              "if type(self.search) is not search.BeamSearch:"),),
        ("tests/test_lossless_decoding.py::test_what_verification_cannot_honour_is_refused_before_it_decodes",),
    ),
    Mutant(
        "verified_ensemble_decoded_with_the_first_model",
        "--exit-verify accepts an ensemble (several checkpoints in --path) and decodes with the first model only",
        (Edit("ofa_mue/core/verified_generator.py",
              "        if len(models) != 1:\n"
              '            raise ConfigError("--exit-verify verifies one model, not an ensemble (one checkpoint in '
              '--path)")\n', ""),),
        ("tests/test_lossless_decoding.py::test_what_verification_cannot_honour_is_refused_before_it_decodes",),
    ),
    Mutant(
        "ensemble_generation_with_exits_accepted",
        "an ensemble generates with exits on: its models share one exit session, which keeps one model's "
        "encoder depths and judges every model with the first one's head, so the layers reported are wrong",
        (Edit("ofa_mue/core/early_exit_generator.py", "        if self.model.models_size != 1 and policy.exiting_parts:\n",
              "        if False:\n"),),
        ("tests/test_early_exit_inference.py::test_an_ensemble_generates_with_exits_off_only",),
    ),
    Mutant(
        "verified_beam_ignored",
        "--exit-verify accepts --beam 5 and decodes greedily anyway (the caption evaluation's default beam "
        "silently dropped)",
        (Edit("ofa_mue/core/verified_generator.py",
              "        if self.beam_size != 1:\n            raise ConfigError(",
              "        if False:\n            raise ConfigError("),),
        ("tests/test_lossless_decoding.py::"
         "test_what_verification_cannot_honour_is_refused[options0---exit-verify decodes greedily: pass --beam 1]",),
    ),
    Mutant(
        "exit_verify_draft_ignored",
        "the task builds the lossless generator without --exit-verify-draft: it drafts the default 4 tokens "
        "per verification whatever the command line says (the metrics file still reports the length asked)",
        (Edit("tasks/ofa_task.py", '            extra["draft_tokens"] = self.cfg.exit_verify_draft\n', ""),),
        ("tests/test_lossless_decoding.py::"
         "test_the_tasks_lossless_generator_takes_every_generation_option_and_the_draft_length",),
    ),
    Mutant(
        "sweep_decoder_only_mue_exits_in_the_text_stream",
        "the sweep's MuE decoder-only curve also sets the text stream's threshold: a curve labelled by its "
        "decoder threshold cuts the encoder too",
        (Edit("ofa_mue/sweep.py", "exit_options(decoder_exit_threshold=t))",
              "exit_options(decoder_exit_threshold=t, text_exit_threshold=t))"),),
        ("tests/test_reporting_audit.py::test_sweep_points_set_the_exits_each_curve_names",),
    ),
    Mutant(
        "sweep_baseline_encoder_thresholds_swapped",
        "the sweep gives the entropy and patience baselines MuE's image threshold on the text stream and its "
        "text threshold on the image stream",
        (Edit("ofa_mue/sweep.py", "return policy.image, policy.text", "return policy.text, policy.image"),),
        ("tests/test_reporting_audit.py::test_sweep_points_set_the_exits_each_curve_names",),
    ),
    Mutant(
        "sweep_static_full_depth_cut_to_one_layer",
        "a static grid point at the text stream's full depth truncates the text stream to one layer instead "
        "of running it in full",
        (Edit("ofa_mue/sweep.py", "static_text_layers=text if text < encoder_layers else 0",
              "static_text_layers=text if text < encoder_layers else 1"),),
        ("tests/test_reporting_audit.py::test_sweep_points_set_the_exits_each_curve_names",),
    ),
    Mutant(
        "significance_interval_touching_zero_called_above",
        "a paired bootstrap interval whose lower end is exactly 0 is called 'above' (a difference the split "
        "cannot tell from none reported as MuE's gain)",
        (Edit("ofa_mue/significance.py", 'return "above" if self.low > 0', 'return "above" if self.low >= 0'),),
        ("tests/test_significance.py::"
         "test_interval_brackets_the_mean_and_excludes_zero_only_for_a_clear_difference",),
    ),
    Mutant(
        "sweep_row_text_layers_from_the_image_stream",
        "a sweep row records the image stream's mean layers as the text stream's, so every table and "
        "plot of the sweep shows the text stream at the image stream's depth",
        (Edit("ofa_mue/sweep.py",
              '"text_layers": layers["text_layers"], "decoder_layers": layers["decoder_layers"],',
              '"text_layers": layers["image_layers"], "decoder_layers": layers["decoder_layers"],'),),
        ("tests/test_reporting_audit.py::test_a_sweep_row_keeps_each_parts_layers_and_its_own_metric",),
    ),
    Mutant(
        "replaced_text_donor_by_image",
        "--replace-text other picks the donor row by a differing image instead of a differing hypothesis: "
        "rows that share a hypothesis but not the image give a row its own text back, and the check of "
        "what the model reads from the picture alone scores some rows unreplaced",
        (Edit("ofa_mue/replaced_text.py",
              'return donor_row(self.reader, index, FIELD, "--replace-text other")',
              'return donor_row(self.reader, index, "image", "--replace-text other")'),),
        ("tests/test_replaced_images.py::test_replace_text_skips_rows_with_the_same_hypothesis_whatever_their_images",),
    ),
    Mutant(
        "predict_ema_eval_ignored",
        "predict --ema-eval predicts with the checkpoint's model weights instead of its EMA weights",
        (Edit("ofa_mue/predict.py", "    if args.ema_eval:\n        load_ema_weights(models, args.path)\n", ""),),
        (f"{EVAL_HABITS}test_predict_ema_eval_answers_as_the_evaluation_of_the_ema_weights",),
    ),
    Mutant(
        "store_ema_averages_integer_buffers",
        "fairseq-train --store-ema on an OFA model averages its integer buffers as fairseq 0.12 does "
        "(a RuntimeError at the first update) where OFA's fairseq copies them",
        (Edit("ofa_mue/ema_buffers.py", "EMA.__init__ = _init_copying_integer_buffers\n", "\n"),),
        ("tests/test_ofa_training_options.py::test_store_ema_averages_weights_and_copies_integer_buffers",),
    ),
    Mutant(
        "store_ema_copies_every_weight",
        "fairseq-train --store-ema copies every tensor into the EMA model instead of averaging the "
        "floating-point weights (the EMA weights are the last update's)",
        (Edit("ofa_mue/ema_buffers.py", "set(skip_keys or ()) | integer_keys(model)", "set(model.state_dict())"),),
        ("tests/test_ofa_training_options.py::test_store_ema_averages_weights_and_copies_integer_buffers",),
    ),
    Mutant(
        "profile_option_misspelt_accepted",
        "an exit profile's unknown option (a misspelt threshold such as decoder_threshold) is read and ignored "
        "instead of refused: the run silently exits at the default thresholds",
        (Edit("ofa_mue/core/exit_profile.py",
              "    if unknown:\n        raise DataError(path, f\"unknown exit option(s)",
              "    if False:\n        raise DataError(path, f\"unknown exit option(s)"),),
        ("tests/test_exit_profile.py::test_a_profile_option_that_is_not_an_exit_threshold_is_refused_by_name"
         "[misspelt]",),
    ),
    Mutant(
        "profile_granularity_ignored",
        "a run with an exit profile and no --exit-granularity runs per token whatever granularity the profile "
        "was calibrated with (a step profile's thresholds applied to other exit decisions)",
        (Edit("ofa_mue/core/exit_profile.py",
              "    mode = recorded[0] if mode is None else mode\n",
              "    mode = \"token\" if mode is None else mode\n"),),
        ("tests/test_exit_granularity.py::test_a_profile_runs_at_the_granularity_it_was_calibrated_with",
         "tests/test_predict.py::test_a_profile_sets_the_granularity_over_the_checkpoints_saved_one"),
    ),
    Mutant(
        "no_batch_size_caveat_at_a_larger_batch",
        "a step profile's batch-size caveat given only for runs at a smaller batch than calibrated: a run at a "
        "larger batch (other rows in each step, other depths) is told the profile's figures hold for it",
        (Edit("ofa_mue/core/exit_profile.py",
              "    if calibrated is None or calibrated == batch_size:\n",
              "    if calibrated is None or calibrated <= batch_size:\n"),),
        ("tests/test_exit_granularity.py::test_a_step_profile_describes_runs_at_its_calibration_batch_size_only",),
    ),
    Mutant(
        "guarantee_confidence_is_delta",
        "the guarantee statement gives delta (the chance the guarantee fails) as its confidence: a guarantee at "
        "delta 0.1 reads 'with probability at least 10%'",
        (Edit("ofa_mue/core/exit_profile.py",
              "    rows, confidence = guarantee[\"calibration_rows\"], 100 * (1 - guarantee[\"delta\"])\n",
              "    rows, confidence = guarantee[\"calibration_rows\"], 100 * guarantee[\"delta\"]\n"),),
        ("tests/test_exit_profile.py::test_the_guarantee_statement_gives_the_confidence_one_minus_delta",),
    ),
    Mutant(
        "calibration_split_caveat_without_a_guarantee",
        "a run on a profile's calibration split is told 'the guarantee is about new data' also when the "
        "profile carries no guarantee (uncertified, or nothing certified)",
        (Edit("ofa_mue/core/exit_profile.py",
              "    if not (profile.get(\"guarantee\") or {}).get(\"certified\") or profile.get(\"split\") != split:\n",
              "    if profile.get(\"split\") != split:\n"),),
        ("tests/test_exit_profile.py::test_a_certified_profile_is_caveated_on_its_own_calibration_split_only",),
    ),
    Mutant(
        "converted_checkpoint_records_architecture_defaults",
        "convert --from-hf saves the architecture's default options in the checkpoint instead of the port "
        "config's (e.g. embeddings scaled by sqrt(width) where the port scales none)",
        (Edit("ofa_mue/convert.py",
              "    model_namespace = model_args(arch, **options)\n",
              "    model_namespace = model_args(arch)\n"),),
        ("tests/test_convert.py::test_from_hf_gives_a_fairseq_checkpoint_with_every_weight_in_place",
         "tests/test_convert.py::test_the_ports_unscaled_embeddings_stay_unscaled_both_ways"),
    ),
    Mutant(
        "to_hf_reads_architecture_defaults",
        "convert --to-hf writes config.json from the checkpoint's architecture defaults instead of the options "
        "the checkpoint was built with",
        (Edit("ofa_mue/convert.py",
              "    return model_args(arch, **{k: v for k, v in values.items() if k not in (\"arch\", \"_name\")})\n",
              "    return model_args(arch)\n"),),
        ("tests/test_convert.py::test_to_hf_gives_back_the_ports_names_shapes_and_values",),
    ),
    Mutant(
        "port_bin_read_before_safetensors",
        "convert --from-hf reads pytorch_model.bin where the folder also holds model.safetensors (the file "
        "transformers writes and loads)",
        (Edit("ofa_mue/convert.py",
              "    config_path, weights_path = os.path.join(folder, HF_CONFIG), os.path.join(folder, HF_SAFETENSORS)\n"
              "    if not os.path.isfile(weights_path):\n"
              "        weights_path = os.path.join(folder, HF_WEIGHTS)\n",
              "    config_path, weights_path = os.path.join(folder, HF_CONFIG), os.path.join(folder, HF_WEIGHTS)\n"
              "    if not os.path.isfile(weights_path):\n"
              "        weights_path = os.path.join(folder, HF_SAFETENSORS)\n"),),
        ("tests/test_convert.py::test_from_hf_reads_safetensors_weights_as_the_bin_file",),
    ),
    Mutant(
        "converted_default_patch_size_384",
        "convert --from-hf without --patch-image-size sets the task up at 384 px (OFA's pretraining size) "
        "instead of the 480 px its help states",
        (Edit("ofa_mue/convert.py",
              "args.patch_image_size or 480",
              "args.patch_image_size or 384"),),
        ("tests/test_convert.py::test_from_hf_sets_the_checkpoint_up_for_captions_at_480_px_by_default",),
    ),
    Mutant(
        "converted_default_task_snli_ve",
        "convert --from-hf without --task sets the checkpoint up for SNLI-VE instead of captioning",
        (Edit("ofa_mue/convert.py",
              "task, size = args.task or \"caption\"",
              "task, size = args.task or \"snli_ve\""),),
        ("tests/test_convert.py::test_from_hf_sets_the_checkpoint_up_for_captions_at_480_px_by_default",),
    ),
    Mutant(
        "demo_count_hypothesis_reads_at_least",
        "the demo's 'there are two red circles' is true with three: an exact count judged as 'at least', so "
        "count hypotheses get wrong SNLI-VE labels",
        (Edit("demo/language.py",
              "        return sum(lf[1].matches(o) for o in objects) == lf[2]\n",
              "        return sum(lf[1].matches(o) for o in objects) >= lf[2]\n"),),
        ("tests/test_demo_data.py::test_judge_and_generator_on_hand_built_scenes",
         "tests/test_demo_data.py::test_many_examples_labels_captions_and_variety"),
    ),
    Mutant(
        "demo_label_from_one_hidden_content",
        "a demo hypothesis' label decided by the first possible content of the covered cells (empty) instead "
        "of all of them: no hypothesis is ever neutral",
        (Edit("demo/language.py",
              "        if len(seen) == 2:\n            return None\n    return seen.pop()\n",
              "        break\n    return seen.pop()\n"),),
        ("tests/test_demo_data.py::test_judge_and_generator_on_hand_built_scenes",
         "tests/test_demo_data.py::test_hypotheses_ruled_out_under_a_cover_never_take_that_label"),
    ),
    Mutant(
        "demo_cover_rules_out_region_contradictions",
        "impossible_under_cover rules out a contradiction for every existence hypothesis, those naming a "
        "region included (a cover outside the region leaves it decidable): the demo never draws them in "
        "covered scenes",
        (Edit("demo/language.py",
              "        return op == \"exists\" and lf[2] is None\n",
              "        return op == \"exists\"\n"),),
        ("tests/test_demo_data.py::test_hypotheses_ruled_out_under_a_cover_never_take_that_label",),
    ),
    Mutant(
        "demo_caption_word_limit_exclusive",
        "a demo caption form of exactly --caption-words words is left out of the references (the limit "
        "read as exclusive)",
        (Edit("demo/language.py",
              "len(text.split()) <= max_words",
              "len(text.split()) < max_words"),),
        ("tests/test_demo_data.py::test_references_are_the_first_forms_that_fit_the_word_limit",),
    ),
    Mutant(
        "demo_captions_take_the_last_forms",
        "make_captions returns the last k caption forms that fit instead of the first k (the plain list of "
        "objects is never a reference)",
        (Edit("demo/language.py",
              "    return out[:k]\n",
              "    return out[-k:]\n"),),
        ("tests/test_demo_data.py::test_references_are_the_first_forms_that_fit_the_word_limit",),
    ),
    Mutant(
        "demo_family_weights_ignored",
        "the demo draws hypothesis families uniformly instead of by their weights: the SNLI-VE data's mix of "
        "families is not the documented one",
        (Edit("demo/language.py",
              "    family = rng.choices(names, weights=[registry[n][1] for n in names])[0]\n",
              "    family = rng.choice(names)\n"),),
        ("tests/test_demo_data.py::test_hypothesis_families_are_drawn_by_their_weights",),
    ),
    Mutant(
        "reproduce_timing_reference_is_mue",
        "reproduce measures Table 1's time reductions against calibrated MuE instead of the full model (MuE's "
        "measured reduction reads 0)",
        (Edit("ofa_mue/reproduce.py",
              "arm_name(chosen[0][0]), args.timing_repetitions",
              "arm_name(chosen[1][0]), args.timing_repetitions"),),
        ("tests/test_reproduce.py::test_reproduce_tables_equal_the_evaluation_of_each_setting",),
    ),
    Mutant(
        "table4_main_row_takes_the_first_threshold",
        "Table 4's MuE row takes the first threshold of the sweep instead of the calibrated operating point",
        (Edit("ofa_mue/reproduce.py",
              "paper_tables.curve_rows(rows, \"full\")[0], paper_tables.curve_rows(rows, \"mue_given\")[0]",
              "paper_tables.curve_rows(rows, \"full\")[0], paper_tables.curve_rows(rows, \"mue\")[0]"),),
        ("tests/test_reproduce.py::test_reproduce_tables_equal_the_evaluation_of_each_setting",),
    ),
    Mutant(
        "table4_joint_variant_not_decomposed",
        "Table 4's variant without modality decomposition runs MuE on the joint encoder (no decomposition "
        "override), where MuE's encoder exits need the streams apart",
        (Edit("ofa_mue/reproduce.py",
              "         args.no_decomposition_profile, DECOMPOSED),",
              "         args.no_decomposition_profile, {}),"),),
        ("tests/test_reproduce.py::test_reproduce_tables_equal_the_evaluation_of_each_setting",),
    ),
    Mutant(
        "table4_retention_inverted",
        "Table 4's retention computed as the full model's metric over MuE's instead of MuE's over the full "
        "model's",
        (Edit("ofa_mue/reproduce.py",
              "\"retention\": result[\"metric\"] / full_metric if full_metric else None",
              "\"retention\": full_metric / result[\"metric\"] if result[\"metric\"] else None"),),
        ("tests/test_reproduce.py::test_reproduce_tables_equal_the_evaluation_of_each_setting",),
    ),
    Mutant(
        "reproduce_accepts_a_threshold_of_one",
        "reproduce refuses the exit thresholds it would override only below 1.0: --decoder-exit-threshold 1.0 "
        "(which exits) is accepted and silently not used",
        (Edit("ofa_mue/reproduce.py",
              "(\"--decoder-exit-threshold\", args.decoder_exit_threshold)) if value <= 1.0]",
              "(\"--decoder-exit-threshold\", args.decoder_exit_threshold)) if value < 1.0]"),),
        ("tests/test_reproduce.py::test_reproduce_refuses_what_it_cannot_honour",),
    ),
    Mutant(
        "figure3_thresholds_of_the_other_stream",
        "Figure 3 draws the profile's text threshold on the image panel and its image threshold on the text "
        "panel",
        (Edit("ofa_mue/reproduce.py",
              'image, text = (options.get(f"{part}_exit_threshold", NEVER) for part in ("image", "text"))',
              'image, text = (options.get(f"{part}_exit_threshold", NEVER) for part in ("text", "image"))'),),
        ("tests/test_reproduce.py::test_figure3_draws_each_streams_threshold_from_the_profile",),
    ),
    Mutant(
        "static_chosen_on_the_evaluated_split",
        "--static-chosen-on valid evaluates the static grid on the evaluated split: the 'held-out' choice is the "
        "envelope itself",
        (Edit("ofa_mue/reproduce.py",
              "    setup = load([*rest, \"--gen-subset\", split], checkpoint)\n",
              "    setup = load(rest, checkpoint)\n"),),
        ("tests/test_reproduce.py::test_reproduce_scores_static_depths_chosen_on_the_validation_split",),
    ),
    Mutant(
        "operating_point_strictly_beyond_mue",
        "Table 1 takes a baseline's setting only when it saves strictly more than MuE: one that saves exactly as "
        "much (up to rounding) is passed over for a worse one",
        (Edit("ofa_mue/paper_tables.py",
              "if row[\"expected_time_reduction\"] >= target - TOLERANCE]",
              "if row[\"expected_time_reduction\"] > target + TOLERANCE]"),),
        ("tests/test_reproduce.py::test_table1_takes_each_baselines_best_setting_that_saves_as_much_as_mue",),
    ),
    Mutant(
        "table1_retention_against_mue",
        "Table 1's retention is each method's metric over calibrated MuE's instead of the full model's",
        (Edit("ofa_mue/paper_tables.py",
              "    full_value = points[0][0][\"metric\"]\n",
              "    full_value = points[1][0][\"metric\"]\n"),),
        ("tests/test_reproduce.py::"
         "test_table1_gives_each_method_its_own_metrics_and_retention_against_the_full_model",),
    ),
    Mutant(
        "table1_metrics_of_the_full_model",
        "Table 1's metric columns show the full model's metrics in every row",
        (Edit("ofa_mue/paper_tables.py",
              "        metrics = full_metrics(row)\n",
              "        metrics = full_metrics(points[0][0])\n"),),
        ("tests/test_reproduce.py::"
         "test_table1_gives_each_method_its_own_metrics_and_retention_against_the_full_model",),
    ),
    Mutant(
        "table2_image_and_text_depths_swapped",
        "Table 2 puts each static setting's text depth in the image row and its image depth in the text column",
        (Edit("ofa_mue/paper_tables.py",
              "    return (options[\"static_image_layers\"] or encoder_layers, "
              "options[\"static_text_layers\"] or encoder_layers,",
              "    return (options[\"static_text_layers\"] or encoder_layers, "
              "options[\"static_image_layers\"] or encoder_layers,"),),
        ("tests/test_reproduce.py::test_reproduce_tables_equal_the_evaluation_of_each_setting",),
    ),
    Mutant(
        "table3_threshold_of_the_image_stream",
        "Table 3's threshold column gives the image stream's threshold (off for the decoder-only form) instead "
        "of the decoder's",
        (Edit("ofa_mue/paper_tables.py",
              "\"threshold\": None if row[\"curve\"] == \"mue_given\" else options[\"decoder_exit_threshold\"]",
              "\"threshold\": None if row[\"curve\"] == \"mue_given\" else options[\"image_exit_threshold\"]"),),
        ("tests/test_reproduce.py::test_table3_gives_each_threshold_and_the_calibrated_point",),
    ),
    Mutant(
        "table3_without_the_calibrated_point",
        "Table 3 leaves out the calibrated operating point its docstring and reproduce's page promise",
        (Edit("ofa_mue/paper_tables.py",
              "*curve_rows(rows, \"mue_decoder\"), *curve_rows(rows, \"mue_given\")]:",
              "*curve_rows(rows, \"mue_decoder\")]:"),),
        ("tests/test_reproduce.py::test_table3_gives_each_threshold_and_the_calibrated_point",),
    ),
    Mutant(
        "every_depth_claimed_from_the_depths_alone",
        "the envelope is said to cover 'all depth combinations (every depth of each part)' when each part's "
        "every depth was swept, even one part at a time (not every combination)",
        (Edit("ofa_mue/paper_tables.py",
              "             and len(combinations) == encoder_layers ** 2 * decoder_layers)\n",
              "             )\n"),),
        ("tests/test_reporting_audit.py::test_the_envelope_names_the_depth_grid_it_was_built_from",),
    ),
    Mutant(
        "attention_layer_norm_after_the_residual",
        "the encoder layer's NormFormer attn_ln normalises the sum after the residual connection instead of "
        "the attention output before it (OFA: x + attn_ln(self_attn(self_attn_layer_norm(x))))",
        (Edit("models/layers.py",
              "        x = self.residual(_norm_if(self.attn_ln, self.self_attn.project_out(heads)), x)\n",
              "        x = _norm_if(self.attn_ln, self.residual(self.self_attn.project_out(heads), x))\n"),),
        ("tests/test_ofa_layers.py::test_encoder_layer_computes_ofas_pre_ln_normformer_layer",),
    ),
    Mutant(
        "scale_resids_ignored",
        "--scale-resids (NormFormer's w_resid) is built but not applied: the feed-forward block's residual is "
        "x instead of OFA's w_resid * x",
        (Edit("models/layers.py",
              "        residual = x if self.w_resid is None else x * self.w_resid\n",
              "        residual = x\n"),),
        ("tests/test_ofa_layers.py::test_encoder_layer_computes_ofas_pre_ln_normformer_layer",),
    ),
    Mutant(
        "residual_dropout_at_inference",
        "the layers' residual-branch dropout (--dropout, 0.1 in OFA's fine-tuned checkpoints' configs) stays on "
        "in eval mode: every inference run drops other units",
        (Edit("models/layers.py",
              "        if self.training:\n            branch = self.drop_path(self.dropout(branch))\n",
              "        branch = self.drop_path(torch.nn.functional.dropout(branch, self.dropout.p, training=True))\n"),),
        ("tests/test_ofa_layers.py::test_encoder_layer_computes_ofas_pre_ln_normformer_layer",),
    ),
    Mutant(
        "ffn_layer_norm_before_the_activation",
        "NormFormer's ffn_layernorm applied to fc1's output before the activation (and activation dropout) "
        "instead of after it, as OFA's fc2(ffn_layernorm(gelu(fc1(x))))",
        (Edit("models/layers.py",
              "        h = self.activation_fn(self.fc1(self.final_layer_norm(x)))\n        if self.training:\n"
              "            h = self.activation_dropout(h)\n        if self.ffn_layernorm is not None:\n"
              "            h = self.ffn_layernorm(h)\n",
              "        h = self.fc1(self.final_layer_norm(x))\n        if self.ffn_layernorm is not None:\n"
              "            h = self.ffn_layernorm(h)\n        h = self.activation_fn(h)\n"),),
        ("tests/test_ofa_layers.py::test_encoder_layer_computes_ofas_pre_ln_normformer_layer",),
    ),
    Mutant(
        "gelu_tanh_approximation",
        "--activation-fn gelu computed with the tanh approximation (fairseq's gelu_accurate) instead of the exact "
        "x * Phi(x) of fairseq's gelu, which OFA's checkpoints were trained with",
        (Edit("models/layers.py",
              "fairseq_utils.get_activation_fn(opts.activation_fn)",
              "fairseq_utils.get_activation_fn('gelu_accurate' if opts.activation_fn == 'gelu' "
              "else opts.activation_fn)"),),
        ("tests/test_ofa_layers.py::test_encoder_layer_computes_ofas_pre_ln_normformer_layer",),
    ),
    Mutant(
        "cross_attention_keys_from_normalised_encoder_output",
        "the decoder's cross-attention keys and values taken from encoder_attn_layer_norm(encoder output) "
        "instead of the encoder output as it is (that layer norm is for the decoder's queries only)",
        (Edit("models/layers.py",
              "        return self.encoder_attn.project_kv(encoder_out)\n",
              "        return self.encoder_attn.project_kv(self.encoder_attn_layer_norm(encoder_out))\n"),),
        ("tests/test_ofa_layers.py::test_decoder_layer_computes_ofas_pre_ln_normformer_layer",),
    ),
    Mutant(
        "cross_attention_queries_unnormalised",
        "the decoder's cross-attention queries projected from the residual stream without "
        "encoder_attn_layer_norm (OFA's pre-LN cross-attention block normalises them)",
        (Edit("models/layers.py",
              "self.encoder_attn.q_proj(self.encoder_attn_layer_norm(y)), cross_key",
              "self.encoder_attn.q_proj(y), cross_key"),),
        ("tests/test_ofa_layers.py::test_decoder_layer_computes_ofas_pre_ln_normformer_layer",),
    ),
    Mutant(
        "attention_dropout_at_inference",
        "attention-weight dropout (--attention-dropout) stays on in eval mode",
        (Edit("models/attention.py",
              "dropout_p=self.dropout if self.training else 0.0",
              "dropout_p=self.dropout"),),
        ("tests/test_ofa_layers.py::test_encoder_layer_computes_ofas_pre_ln_normformer_layer",),
    ),
    Mutant(
        "encoder_drop_path_from_the_first_layer",
        "the encoder's drop path rates run from rate / L to rate (the first layer drops too) instead of OFA's "
        "torch.linspace(0, rate, L): every fine-tuning with --encoder-drop-path-rate regularises otherwise",
        (Edit("models/encoder.py",
              "rates = torch.linspace(0, args.encoder_drop_path_rate, args.encoder_layers, device=\"cpu\").tolist()",
              "rates = torch.linspace(args.encoder_drop_path_rate / args.encoder_layers, args.encoder_drop_path_rate, "
              "args.encoder_layers, device=\"cpu\").tolist()"),),
        ("tests/test_ofa_layers.py::test_drop_path_rates_grow_linearly_from_zero_over_the_layers_as_in_ofa",),
    ),
    Mutant(
        "resnet_drop_path_from_the_first_block",
        "each ResNet stage's drop path rates run from rate / n to rate (its first block drops too) instead of "
        "OFA's torch.linspace(0, rate, n) per stage",
        (Edit("models/image_embedding.py",
              "    rates = torch.linspace(0, drop_path_rate, blocks, device=\"cpu\").tolist()\n",
              "    rates = torch.linspace(drop_path_rate / blocks, drop_path_rate, blocks, device=\"cpu\").tolist()\n"),),
        ("tests/test_ofa_layers.py::test_drop_path_rates_grow_linearly_from_zero_over_the_layers_as_in_ofa",),
    ),
    Mutant(
        "text_log_buckets_rounded_down",
        "the text relative-position buckets beyond bucket_size / 2 rounded down instead of up (OFA's ceil): "
        "distant tokens read their neighbouring bucket's learned bias",
        (Edit("models/position_bias.py", "log_bucket = torch.ceil(", "log_bucket = torch.floor("),),
        ("tests/test_ofa_position_tables.py::test_text_buckets_follow_ofas_definition",),
    ),
    Mutant(
        "text_buckets_query_and_key_swapped",
        "the text bucket table built from j - i instead of i - j: every text relative bias transposed (a "
        "token reads the bias OFA learned for the token at the mirrored offset)",
        (Edit("models/position_bias.py",
              "    offset = torch.arange(max_position)[:, None] - torch.arange(max_position)[None, :]\n",
              "    offset = torch.arange(max_position)[None, :] - torch.arange(max_position)[:, None]\n"),),
        ("tests/test_ofa_position_tables.py::test_text_buckets_follow_ofas_definition",),
    ),
    Mutant(
        "image_buckets_rows_and_columns_swapped",
        "the image bucket of two patches taken as column offset * (2B - 1) + row offset instead of OFA's row "
        "offset * (2B - 1) + column offset: the 2-D relative bias of a transposed picture",
        (Edit("models/position_bias.py",
              "    table[1:, 1:] = d_row * span + d_col\n",
              "    table[1:, 1:] = d_col * span + d_row\n"),),
        ("tests/test_ofa_position_tables.py::test_image_buckets_follow_ofas_definition",),
    ),
    Mutant(
        "image_special_buckets_swapped",
        "the image bucket table's row 0 and column 0 (position 0's buckets) take each other's bucket",
        (Edit("models/position_bias.py",
              "    table[0, :] = num_buckets - 3\n    table[:, 0] = num_buckets - 2\n",
              "    table[0, :] = num_buckets - 2\n    table[:, 0] = num_buckets - 3\n"),),
        ("tests/test_ofa_position_tables.py::test_image_buckets_follow_ofas_definition",),
    ),
    Mutant(
        "absolute_position_bias_unscaled",
        "the absolute position bias without its query scale (D / H * attn_scale_factor) ** -0.5",
        (Edit("models/position_bias.py",
              "    q = _split_heads(q_linear(query_pos), num_heads) * scaling\n",
              "    q = _split_heads(q_linear(query_pos), num_heads)\n"),),
        ("tests/test_ofa_position_tables.py::test_absolute_bias_is_the_scaled_query_position_times_the_key_position"
         "_per_head",),
    ),
    Mutant(
        "absolute_position_bias_query_and_key_swapped",
        "the absolute position bias projects queries' positions with pos_k_linear and keys' with pos_q_linear "
        "(the bias transposed)",
        (Edit("models/position_bias.py",
              "    q = _split_heads(q_linear(query_pos), num_heads) * scaling\n"
              "    k = _split_heads(k_linear(key_pos), num_heads)\n",
              "    q = _split_heads(k_linear(query_pos), num_heads) * scaling\n"
              "    k = _split_heads(q_linear(key_pos), num_heads)\n"),),
        ("tests/test_ofa_position_tables.py::test_absolute_bias_is_the_scaled_query_position_times_the_key_position"
         "_per_head",),
    ),
    Mutant(
        "attn_scale_factor_default_one",
        "the architectures' attn_scale_factor defaults to 1 instead of OFA's 2: queries scaled by "
        "head_dim ** -0.5, and no parameter's shape shows it",
        (Edit("models/ofa.py", "(\"attn_scale_factor\", 2.0)", "(\"attn_scale_factor\", 1.0)"),),
        ("tests/test_model_architecture.py::test_architecture_defaults_no_shape_shows_are_ofas[ofa_base]",),
    ),
    Mutant(
        "disable_entangle_default_on",
        "the architectures default disable_entangle on: a model trained without --disable-entangle (OFA's "
        "default) gets no positions added to its decoder's token embeddings",
        (Edit("models/ofa.py", "(\"disable_entangle\", False)", "(\"disable_entangle\", True)"),),
        ("tests/test_model_architecture.py::test_architecture_defaults_no_shape_shows_are_ofas[ofa_base]",),
    ),
    Mutant(
        "attention_dropout_from_dropout",
        "the layers' attention-weight dropout takes --dropout instead of --attention-dropout (OFA's fine-tuning "
        "scripts pass 0.1 and 0.0): fine-tuning drops attention weights OFA keeps",
        (Edit("models/ofa.py",
              "        attention_dropout=args.attention_dropout,\n",
              "        attention_dropout=args.dropout,\n"),),
        ("tests/test_ofa_layers.py::test_each_dropout_option_sets_its_own_dropout_in_every_layer",),
    ),
    Mutant(
        "port_default_resnet_152",
        "a port config.json without resnet_type read as resnet152 instead of the port's default resnet101",
        (Edit("models/hf_mapping.py",
              "\"resnet_type\": \"resnet101\", \"resnet_drop_path_rate\"",
              "\"resnet_type\": \"resnet152\", \"resnet_drop_path_rate\""),),
        ("tests/test_convert.py::test_port_options_without_a_shape_map_to_fairseq_ofas",),
    ),
    Mutant(
        "port_gelu_new_as_exact_gelu",
        "the port's activation gelu_new (the tanh approximation) mapped to fairseq's exact gelu instead of "
        "gelu_accurate",
        (Edit("models/hf_mapping.py", "\"gelu_new\": \"gelu_accurate\"", "\"gelu_new\": \"gelu\""),),
        ("tests/test_convert.py::test_port_options_without_a_shape_map_to_fairseq_ofas",),
    ),
    Mutant(
        "port_scale_heads_from_normformer",
        "a port config with normformer false converted without c_attn (scale_heads off), though the port's "
        "attention has its per-head scale whatever normformer says",
        (Edit("models/hf_mapping.py",
              "        scale_heads=True, scale_resids=False,",
              "        scale_heads=c[\"normformer\"], scale_resids=False,"),),
        ("tests/test_convert.py::test_port_options_without_a_shape_map_to_fairseq_ofas",),
    ),
    Mutant(
        "imagenet_std_channels_reversed",
        "--imagenet-default-mean-and-std normalises with ImageNet's std in reversed channel order (0.225, "
        "0.224, 0.229)",
        (Edit("data/images.py",
              "IMAGENET_STD = (0.229, 0.224, 0.225)\n",
              "IMAGENET_STD = (0.225, 0.224, 0.229)\n"),),
        (f"{IMAGES}test_imagenet_option_normalises_with_imagenets_mean_and_std",),
    ),
    Mutant(
        "caption_punctuation_keeps_underscore",
        "caption targets, references and hypotheses keep '_' (OFA translates away all 32 marks of "
        "string.punctuation): other words for CIDEr-D and the training targets",
        (Edit("data/text.py",
              "_NO_PUNCTUATION = str.maketrans(\"\", \"\", string.punctuation)\n",
              "_NO_PUNCTUATION = str.maketrans(\"\", \"\", string.punctuation.replace(\"_\", \"\"))\n"),),
        (f"{TEXT}test_strip_punctuation_drops_all_32_ascii_punctuation_marks_and_keeps_other_characters",),
    ),
    Mutant(
        "checkpoint_settings_beat_model_overrides",
        "an inference run takes a task setting from the checkpoint before --model-overrides (OFA's evaluate.py "
        "applies the overrides on top of the checkpoint's task config): the overrides OFA's scripts pass are "
        "ignored",
        (Edit("tasks/settings.py",
              "        for source, given in ((\"--model-overrides\", overrides), (checkpoint, saved)):\n",
              "        for source, given in ((checkpoint, saved), (\"--model-overrides\", overrides)):\n"),),
        ("tests/test_checkpoint_round_trip.py::test_model_overrides_beat_the_checkpoints_task_settings_and_the_"
         "command_line_is_used_as_given",),
    ),
    Mutant(
        "settings_conflict_with_overrides_unchecked",
        "a task setting or DATA that the command line and --model-overrides give differently is not refused: "
        "the command line's value silently wins where OFA's evaluate.py takes the overrides'",
        (Edit("tasks/settings.py", "    _refuse_conflicts(cfg, overrides, defaults)\n", ""),),
        ("tests/test_checkpoint_round_trip.py::test_a_setting_the_command_line_and_model_overrides_give_"
         "differently_is_refused[max_tgt_length-12-25]",
         "tests/test_checkpoint_round_trip.py::test_a_setting_the_command_line_and_model_overrides_give_"
         "differently_is_refused[data-snli_ve_test.tsv-snli_ve_dev.tsv]"),
    ),
    Mutant(
        "task_options_in_model_overrides_ignored",
        "exit thresholds and other task options in --model-overrides are silently dropped (OFA's evaluate.py "
        "applies every override to its task): the evaluation runs the full model",
        (Edit("tasks/ofa_task.py",
              "        apply_option_overrides(cfg, option_defaults(getattr(cls, \"__dataclass\")), "
              "cls.SETTING_DEFAULTS)\n", ""),),
        ("tests/test_training_and_evaluation_cli.py::test_exit_options_in_model_overrides_run_as_on_the_command_line",
         "tests/test_training_and_evaluation_cli.py::test_calibration_refuses_thresholds_it_would_override"
         "[model_overrides]"),
    ),
    Mutant(
        "task_option_conflict_with_overrides_unchecked",
        "a task option the command line and --model-overrides give differently is not refused: the overrides' "
        "value silently replaces the command line's",
        (Edit("tasks/settings.py", "        if given != defaults[name] and str(given) != str(value):\n",
              "        if False:\n"),),
        ("tests/test_checkpoint_round_trip.py::test_a_task_option_the_command_line_and_model_overrides_give_"
         "differently_is_refused",),
    ),
    Mutant(
        "snli_ve_ensemble_scored_with_its_first_model",
        "SNLI-VE given an ensemble (--path a.pt:b.pt) scores with the first model and ignores the others, "
        "while its results file names them all",
        (Edit("tasks/snli_ve.py", "    if len(models) != 1:\n", "    if not models:\n"),),
        ("tests/test_training_and_evaluation_cli.py::test_an_snli_ve_ensemble_is_refused_not_scored_with_its_first_"
         "model",),
    ),
    Mutant(
        "baseline_exit_tests_counted_as_similarity_tests",
        "the entropy and patience baselines' decoder exit tests are counted as cosine-similarity tests, "
        "leaving out the projection to the vocabulary each one runs: their FLOPs reduction is overstated",
        (Edit("ofa_mue/core/early_exit.py", 'getattr(self.decoder_rule, "projects_to_vocabulary", False)', "False"),),
        ("tests/test_flops.py::test_a_baselines_exit_tests_are_counted_as_the_projections_they_run[entropy]",
         "tests/test_flops.py::test_a_baselines_exit_tests_are_counted_as_the_projections_they_run[patience]"),
    ),
    Mutant(
        "comma_separated_data_crashes_validation",
        "fairseq-train with OFA's --data train.tsv,valid.tsv and validation on lists the file list as a folder "
        "(its check for unused validation subsets) and fails with FileNotFoundError",
        (Edit("ofa_mue/valid_subset_check.py", "data_utils._find_extra_valid_paths = _find_extra_valid_paths\n", ""),),
        ("tests/test_ofa_training_options.py::test_comma_separated_data_trains_with_validation_on",),
    ),
    Mutant(
        "store_ema_from_a_checkpoint_without_one_fails",
        "--store-ema from a checkpoint that holds no EMA (--finetune-from-model, --restore-file --reset-*) fails "
        "with KeyError 'model', as fairseq 0.12 did, where OFA's fairseq seeds the EMA from its weights",
        (Edit("ofa_mue/ema_buffers.py", "Trainer.load_checkpoint = _load_checkpoint_seeding_ema\n", ""),),
        ("tests/test_ofa_training_options.py::test_store_ema_starts_from_a_checkpoint_without_one[finetune_from_model]",),
    ),
    Mutant(
        "store_ema_seeded_from_the_built_model",
        "--store-ema from a checkpoint without an EMA starts the EMA from the model as built (random weights), "
        "not from the checkpoint's weights",
        (Edit("ofa_mue/ema_buffers.py",
              "        self.ema.restore(self.get_model().state_dict(), build_fp32_params=self.cfg.ema.ema_fp32)\n",
              "        pass\n"),),
        ("tests/test_ofa_training_options.py::test_store_ema_starts_from_a_checkpoint_without_one[restore_file_reset]",),
    ),
    Mutant(
        "recipe_rows_counted_by_newlines",
        "the recipes count a training file's rows by its newlines (wc -l): a last row without one is missed, and "
        "--total-num-update can come out a batch per epoch short, ending the schedule early",
        (Edit("run_scripts/lib.sh", "$(awk 'END { print NR }' \"$1\")", "$(wc -l < \"$1\")"),),
        ("tests/test_distributed_training.py::test_total_updates_counts_a_last_row_without_a_newline",),
    ),
    Mutant(
        "image_bias_flag_without_decomposition_accepted",
        "--decomposed-image-without-relative-bias without --decompose-modalities is accepted and does nothing: "
        "OFA's joint encoder trains silently",
        (Edit("models/ofa.py", "        if getattr(args, \"decomposed_image_without_relative_bias\", False) and not "
                               "args.decompose_modalities:\n", "        if False:\n"),),
        ("tests/test_decomposed_encoder.py::test_the_image_bias_flag_without_a_decomposed_encoder_is_refused",),
    ),
    Mutant(
        "decay_factor_without_rate_accepted",
        "--decoder-exit-beta below 1 with --decoder-exit-tau 0 is accepted: the decoder runs the constant threshold "
        "beta * theta + (1 - beta), not the decay the user asked for",
        (Edit("ofa_mue/core/exit_policy.py", "        if self.decoder_beta < 1.0 and self.decoder_tau == 0.0:\n",
              "        if False:\n"),),
        ("tests/test_exit_policy_and_time_reduction.py::test_a_decay_factor_without_a_decay_rate_is_refused",),
    ),
    Mutant(
        "settings_conflict_compares_path_spellings",
        "DATA and a data in --model-overrides naming the same files spelt differently (./a.tsv, an absolute "
        "path) are refused as a conflict, which OFA's scripts would hit",
        (Edit("tasks/settings.py", "    if name in PATH_SETTINGS:\n", "    if name in ():\n"),),
        ("tests/test_checkpoint_round_trip.py::test_the_same_files_named_two_ways_are_no_conflict",),
    ),
    Mutant(
        "eval_split_reads_the_first_file",
        "with OFA's comma-separated --data, the evaluation splits read the first file (a training file) "
        "instead of the last",
        (Edit("tasks/ofa_task.py",
              "            path = self.cfg.data.split(\",\")[-1]\n",
              "            path = self.cfg.data.split(\",\")[0]\n"),),
        ("tests/test_ofa_training_options.py::test_every_split_but_train_reads_the_last_file_of_a_comma_"
         "separated_list",),
    ),
    Mutant(
        "imagenet_normalisation_default_on",
        "images normalised with ImageNet's mean and std when --imagenet-default-mean-and-std is not given "
        "(OFA's default is off: mean = std = 0.5, pixels to [-1, 1])",
        (Edit("tasks/ofa_task.py",
              "\"imagenet_default_mean_and_std\": False,\n",
              "\"imagenet_default_mean_and_std\": True,\n"),),
        ("tests/test_ofa_training_defaults.py::test_images_go_to_minus_one_one_and_the_vocabulary_has_ofas_codes_"
         "and_bins_by_default",),
    ),
    Mutant(
        "num_bins_default_1024",
        "--num-bins defaults to 1024 instead of OFA's 1000: a vocabulary of 59481 symbols, not OFA's 59457",
        (Edit("tasks/ofa_task.py", "\"num_bins\": DEFAULT_NUM_BINS,", "\"num_bins\": 1024,"),),
        ("tests/test_ofa_training_defaults.py::test_images_go_to_minus_one_one_and_the_vocabulary_has_ofas_codes_"
         "and_bins_by_default",),
    ),
    Mutant(
        "caption_evaluation_max_len_b_20",
        "the caption evaluation generates up to 20 tokens by default instead of the 16 of OFA's "
        "evaluate_caption.sh (--max-len-b=16)",
        (Edit("ofa_mue/evaluate.py",
              "CAPTION_GENERATION_DEFAULTS = {\"beam\": 5, \"max_len_b\": 16,",
              "CAPTION_GENERATION_DEFAULTS = {\"beam\": 5, \"max_len_b\": 20,"),),
        (f"{EVAL_HABITS}test_caption_evaluation_generates_with_ofas_evaluate_caption_flags_by_default",),
    ),
    Mutant(
        "drop_worst_ranked_by_nll",
        "--drop-worst-ratio leaves out the tokens with the highest NLL instead of OFA's highest label-smoothed "
        "loss: with --label-smoothing other tokens are dropped than OFA drops",
        (Edit("criterions/label_smoothed_cross_entropy.py",
              "    kept, index = torch.topk(loss, k=int(loss.numel() * (1 - ratio)), largest=False)\n"
              "    return kept, nll[index]\n",
              "    _, index = torch.topk(nll, k=int(loss.numel() * (1 - ratio)), largest=False)\n"
              "    return loss[index], nll[index]\n"),),
        (f"{OFA_CRITERION}test_drop_worst_ranks_tokens_by_the_smoothed_loss_not_the_nll",),
    ),
    Mutant(
        "accuracy_over_sample_size",
        "the logged accuracy divides the correct tokens by sample_size (the sentences with --sentence-avg) "
        "instead of OFA's target tokens",
        (Edit("criterions/label_smoothed_cross_entropy.py",
              "100.0 * correct / max(ntokens, 1)",
              "100.0 * correct / max(sample_size, 1)"),),
        tuple(f"{OFA_CRITERION}test_logged_accuracy_is_the_share_of_target_tokens_predicted_also_with_sentence_avg"
              f"[{name}]" for name in ("adjust_label_smoothed_cross_entropy",
                                       "layerwise_label_smoothed_cross_entropy")),
    ),
    Mutant(
        "logged_losses_in_bits",
        "the logged loss and nll_loss are in bits (fairseq's own criteria divide by ln 2), where OFA's "
        "adjust_label_smoothed_cross_entropy logs nats: a user comparing with OFA's training logs sees "
        "1.44 times OFA's loss",
        (Edit("criterions/label_smoothed_cross_entropy.py",
              'metrics.log_scalar("loss", loss / max(sample_size, 1), sample_size, round=3)',
              'metrics.log_scalar("loss", loss / max(sample_size, 1) / 0.6931471805599453, sample_size, round=3)'),),
        tuple(f"{OFA_CRITERION}test_logged_losses_are_ofas_nats_nll_weighted_by_tokens_and_ppl_two_to_the_nll"
              f"[{name}]" for name in ("adjust_label_smoothed_cross_entropy",
                                       "layerwise_label_smoothed_cross_entropy")),
    ),
    Mutant(
        "logged_nll_weighted_by_sample_size",
        "the logged nll_loss's running average is weighted by sample_size (sentences with --sentence-avg, "
        "the tokens kept by --drop-worst-ratio) instead of OFA's target tokens",
        (Edit("criterions/label_smoothed_cross_entropy.py",
              'metrics.log_scalar("nll_loss", nll / max(sample_size, 1), ntokens, round=3)',
              'metrics.log_scalar("nll_loss", nll / max(sample_size, 1), sample_size, round=3)'),),
        (f"{OFA_CRITERION}test_logged_losses_are_ofas_nats_nll_weighted_by_tokens_and_ppl_two_to_the_nll"
         "[adjust_label_smoothed_cross_entropy]",),
    ),
    Mutant(
        "layer_losses_logged_in_bits",
        "the layer-wise criterion logs loss_layer{i} in bits while its loss is in nats, as OFA logs it: "
        "the layers' losses no longer compare with the logged loss",
        (Edit("criterions/layerwise_cross_entropy.py",
              'log_layer_metric(logging_outputs, "loss_layer", "loss_layer", kept)',
              'log_layer_metric(logging_outputs, "loss_layer", "loss_layer", kept, scale=1.4426950408889634)'),),
        (f"{OFA_CRITERION}test_logged_losses_are_ofas_nats_nll_weighted_by_tokens_and_ppl_two_to_the_nll"
         "[layerwise_label_smoothed_cross_entropy]",
         "tests/test_layerwise_criterion.py::test_per_layer_losses_and_accuracies_are_logged"),
    ),
    Mutant(
        "scst_document_frequencies_from_the_batch_by_default",
        "SCST's CIDEr-D reward takes its document frequencies from each batch's references unless "
        "--scst-cider-df is given, instead of the training split's (OFA's cached tokens)",
        (Edit("criterions/scst.py",
              "        default=\"train\",\n",
              "        default=\"batch\",\n"),),
        (f"{SCST}test_fairseq_train_takes_document_frequencies_from_the_training_split_by_default",),
    ),
    Mutant(
        "scst_captions_sampled_in_training_mode",
        "SCST samples its captions with the model in training mode (dropout on), where OFA's get_generator_out "
        "switches it to eval mode first",
        (Edit("criterions/scst.py",
              "        model.eval()\n        with torch.no_grad():\n",
              "        with torch.no_grad():\n"),),
        (f"{SCST}test_policy_loss_scores_every_caption_token_eos_included_and_captions_are_sampled_in_eval_mode",),
    ),
    Mutant(
        "scst_eos_not_scored",
        "SCST's policy loss leaves out each sampled caption's eos (OFA's scst_loss scores every hypothesis "
        "token, eos included, and counts it in ntokens)",
        (Edit("criterions/scst.py",
              "        scored = target.ne(self.padding_idx)\n",
              "        scored = target.ne(self.padding_idx) & target.ne(dictionary.eos())\n"),),
        (f"{SCST}test_policy_loss_scores_every_caption_token_eos_included_and_captions_are_sampled_in_eval_mode",),
    ),
    Mutant(
        "scst_sentence_avg_counts_images",
        "SCST with --sentence-avg divides the loss by the batch's images instead of its sampled captions "
        "(OFA's nsentences = gen_target.size(0)): a beam-5 gradient five times OFA's",
        (Edit("criterions/scst.py",
              "sample_size = num_captions if self.sentence_avg else ntokens",
              "sample_size = len(captions) if self.sentence_avg else ntokens"),),
        (f"{SCST}test_policy_loss_scores_every_caption_token_eos_included_and_captions_are_sampled_in_eval_mode",),
    ),
    Mutant(
        "validation_cider_averages_batches",
        "--eval-cider logs the mean of the validation batches' CIDEr-D instead of OFA's sum over all rows / "
        "rows: a short last batch weighs as much as a full one, and --best-checkpoint-metric cider keeps "
        "another checkpoint",
        (Edit("tasks/caption.py",
              "metrics.log_scalar(\"cider\", total / count, count, round=3)",
              "metrics.log_scalar(\"cider\", total / count, 1, round=3)"),),
        ("tests/test_ofa_validation_metrics.py::test_validation_cider_is_the_mean_over_all_rows_however_they_are_"
         "batched",),
    ),
    Mutant(
        "families_hidden_cells_grouped_by_objects",
        "the demo's per-family SNLI-VE accuracy groups its \"hidden cells\" rows by their number of visible "
        "objects (a copy of the line above): the table says which cues a model answers from, wrongly",
        (Edit("demo/families.py",
              "    \"hidden cells\": lambda row: row[\"hidden_cells\"],\n",
              "    \"hidden cells\": lambda row: row[\"n_objects\"],\n"),),
        ("tests/test_demo_families.py::test_accuracy_per_family_label_and_difficulty",),
    ),
    Mutant(
        "families_duplicate_prediction_counted",
        "the demo's per-family accuracy has no check for a second prediction of the same row (a repeated "
        "shard): it is counted as another row, and the table's rows and accuracies are off",
        (Edit("demo/families.py",
              "        if uniq_id in seen:\n"
              "            raise DataError(predictions_path, f\"a second prediction for uniq_id {uniq_id}\", row=number,\n"
              "                            field=\"uniq_id\")\n",
              ""),),
        ("tests/test_demo_families.py::test_missing_unknown_and_duplicate_rows_are_refused",),
    ),
    Mutant(
        "families_answer_not_checked_against_label",
        "the demo's per-family accuracy joins predictions to meta rows by uniq_id alone: predictions of other "
        "demo data (another seed or options, same uniq_ids) are credited to this data's families and labels",
        (Edit("demo/families.py",
              "        if prediction.get(\"answer\") != expected:\n",
              "        if False:\n"),),
        ("tests/test_demo_families.py::test_predictions_of_other_data_are_refused",),
    ),
    Mutant(
        "scene_columns_drawn_as_rows",
        "a demo object in cell (col, row) is drawn at (row, col): the pictures are the scenes transposed, so "
        "the left/right and above/below hypotheses' labels disagree with what the image shows",
        (Edit("demo/scenes.py",
              "    cx = (col + 0.5) / GRID + rng.uniform(-slack, slack)\n"
              "    cy = (row + 0.5) / GRID + rng.uniform(-slack, slack)\n",
              "    cx = (row + 0.5) / GRID + rng.uniform(-slack, slack)\n"
              "    cy = (col + 0.5) / GRID + rng.uniform(-slack, slack)\n"),),
        ("tests/test_demo_data.py::test_render_small_scene_by_hand",),
    ),
    Mutant(
        "cover_drawn_in_the_transposed_cell",
        "a hidden cell's cover is drawn in the cell with its column and row swapped: the picture hides "
        "another cell than the one the neutral labels were computed for",
        (Edit("demo/scenes.py",
              "    for col, row in scene.hidden:\n",
              "    for row, col in scene.hidden:\n"),),
        ("tests/test_demo_data.py::test_render_small_scene_by_hand",),
    ),
    Mutant(
        "big_and_small_radii_swapped",
        "the demo's \"big\" shapes are drawn with the small radius and the \"small\" ones with the big: every "
        "size word of the captions and hypotheses contradicts the picture",
        (Edit("demo/scenes.py",
              "RADIUS_RANGE = {\"small\": (0.080, 0.092), \"big\": (0.130, 0.148)}",
              "RADIUS_RANGE = {\"big\": (0.080, 0.092), \"small\": (0.130, 0.148)}"),),
        ("tests/test_demo_data.py::test_big_shapes_are_drawn_bigger_than_small_ones",),
    ),
    Mutant(
        "cli_drops_the_first_argument",
        "ofa-mue COMMAND passes the command's arguments less the first to its module: the first option "
        "(e.g. --task caption) is silently dropped",
        (Edit("ofa_mue/cli.py",
              "    name, rest = args[0], args[1:]\n",
              "    name, rest = args[0], args[2:]\n"),),
        ("tests/test_cli.py::test_each_command_runs_its_module[user-dir]",
         "tests/test_cli.py::test_the_help_of_the_evaluation_commands_lists_the_task_options[evaluate]"),
    ),
    Mutant(
        "csv_provenance_line_not_a_comment",
        "a result CSV's provenance line is written without its leading '#': a reader that skips comments "
        "takes it (commas and all) for the header",
        (Edit("ofa_mue/result_files.py",
              "    buffer.write(f\"# {describe(provenance)}\\n\")\n",
              "    buffer.write(f\"{describe(provenance)}\\n\")\n"),),
        ("tests/test_provenance.py::test_csv_result_files_start_with_a_comment_line_that_csv_readers_skip",),
    ),
    Mutant(
        "markdown_table_separator_one_column_short",
        "the result tables' markdown separator row has one cell fewer than the header: the tables are "
        "rendered as plain text",
        (Edit("ofa_mue/result_files.py",
              "\"|\" + \"---|\" * len(header)",
              "\"|\" + \"---|\" * (len(header) - 1)"),),
        ("tests/test_provenance.py::test_markdown_result_files_have_the_provenance_line_and_one_separator_cell_per_"
         "column",),
    ),
    Mutant(
        "atomic_write_in_place",
        "an \"atomic\" result file is written in place instead of under a temporary name then renamed: a "
        "crash mid-write leaves half a file where the previous one was",
        (Edit("ofa_mue/atomic_files.py",
              "    temporary = f\"{root}.tmp-{os.getpid()}{extension}\"",
              "    temporary = path"),),
        ("tests/test_reliability.py::test_output_files_are_replaced_atomically",),
    ),
    Mutant(
        "traceback_switch_ignored",
        "OFA_MUE_TRACEBACK=1 is ignored: an uncaught ofa_mue error in fairseq's commands always ends on its "
        "one line, never the traceback asked for",
        (Edit("ofa_mue/one_line_errors.py",
              "    if message is None or os.environ.get(TRACEBACK_ENV_VAR, \"\").strip() in (\"1\", \"true\", \"yes\"):\n",
              "    if message is None:\n"),),
        ("tests/test_reliability.py::test_fairseqs_commands_end_on_one_line_for_ofa_mue_errors_unless_tracebacks_are_"
         "asked_for",),
    ),
    Mutant(
        "build_model_ignores_overrides",
        "models.builders.build_model drops its keyword overrides (layers, dropouts, drop-path rates): every "
        "model it builds has the architecture's defaults",
        (Edit("models/builders.py",
              "    return OFAModel.build_model(model_args(arch, **overrides), task)\n",
              "    return OFAModel.build_model(model_args(arch), task)\n"),),
        ("tests/test_ofa_layers.py::test_drop_path_rates_grow_linearly_from_zero_over_the_layers_as_in_ofa",
         "tests/test_ofa_layers.py::test_each_dropout_option_sets_its_own_dropout_in_every_layer"),
    ),
    Mutant(
        "numbered_dictionary_one_short",
        "models.builders.numbered_dictionary(size) holds size - 1 symbols: a meta model's embedding and output "
        "projection are one row short of OFA's 59457",
        (Edit("models/builders.py",
              "    for index in range(size - len(dictionary)):\n",
              "    for index in range(size - len(dictionary) - 1):\n"),),
        ("tests/test_model_architecture.py::test_key_shapes_follow_ofa_layout[ofa_tiny-256-1024-4-4]",),
    ),
    Mutant(
        "bpe_merges_written_in_reverse_rank",
        "the demo's vocab.bpe lists its merges last-learnt first: fairseq's GPT-2 encoder applies them in the "
        "wrong rank order and splits the demo's prompts and words into other tokens than the learnt BPE",
        (Edit("demo/bpe.py",
              "        for a, b in merges:\n            f.write(f\"{a} {b}\\n\")\n",
              "        for a, b in reversed(merges):\n            f.write(f\"{a} {b}\\n\")\n"),),
        (DEMO_DATA + "test_bpe_files_split_text_as_the_learnt_merges_do",),
    ),
    Mutant(
        "bpe_moved_bytes_numbered_by_byte",
        "the demo's encoder.json gives the 68 bytes GPT-2 moves the symbol chr(256 + byte) instead of the "
        "next free one, chr(256 + n): bytes 0x7f-0xa0 and 0xad get symbols fairseq's byte map never makes, "
        "and text with them (the euro sign's 0x82) fails to encode",
        (Edit("demo/bpe.py",
              "            out.append((b, chr(256 + extra)))\n",
              "            out.append((b, chr(256 + b)))\n"),),
        (DEMO_DATA + "test_bpe_files_split_text_as_the_learnt_merges_do",
         DEMO_DATA + "test_bpe_files_gpt2_layout_and_round_trip"),
    ),
    Mutant(
        "bpe_dict_ties_by_id_number",
        "the demo's dict.txt orders ids of equal count by their number (\"82\" before \"256\") instead of by "
        "their string as fairseq's Dictionary.finalize does: the ids get other indices than in the dictionary "
        "fairseq builds from the same text",
        (Edit("demo/bpe.py",
              "key=lambda r: (-r[1], r[0]))",
              "key=lambda r: (-r[1], int(r[0])))"),),
        (DEMO_DATA + "test_dict_txt_is_the_dictionary_fairseq_builds_from_the_encoded_corpus",),
    ),
    Mutant(
        "pretrain_accepts_zero_updates",
        "the demo's vision warm start takes --updates 0: it renders its 6000 scenes and builds the model, then "
        "ends on a ZeroDivisionError traceback (its learning-rate decay) instead of a usage error",
        (Edit("demo/pretrain.py",
              "    if updates < 1:\n",
              "    if updates < 0:\n"),),
        (DEMO_PRETRAIN + "test_fewer_than_one_update_is_refused_before_any_work",),
    ),
    Mutant(
        "pretrain_vocabulary_check_dropped",
        "the demo's vision warm start no longer checks that --data holds the demo vocabulary: a wrong folder "
        "is refused with a missing encoder.json, not with what to pass (the folder ofa_mue.demo.generate writes)",
        (Edit("demo/pretrain.py",
              "    if not os.path.isfile(os.path.join(data, \"bpe\", \"dict.txt\")):\n",
              "    if False:\n"),),
        (DEMO_PRETRAIN + "test_a_folder_without_the_demo_vocabulary_is_refused_naming_what_to_pass",),
    ),
    Mutant(
        "pretrain_patch_grid_not_checked",
        "the demo's vision warm start does not check that its images give one patch per grid cell: with "
        "--image-size 64 it fails in its first update on a batch-size mismatch of the loss, without naming "
        "the --image-size that fits",
        (Edit("demo/pretrain.py",
              "    if patches.size(1) != len(CELLS):\n",
              "    if False:\n"),),
        (DEMO_PRETRAIN + "test_images_without_one_patch_per_grid_cell_are_refused_naming_the_size",),
    ),
    Mutant(
        "data_error_without_row",
        "a DataError's message leaves out the row (the 1-based line) it concerns: the user is told the file "
        "and field but not where in the file",
        (Edit("ofa_mue/errors.py",
              "            where += f\", row {row}\"\n",
              "            pass\n"),),
        ("tests/test_data_tsv.py::test_missing_column_names_file_row_and_field",
         "tests/test_data_tsv.py::test_invalid_utf8_names_row_and_field",
         "tests/test_data_images.py::test_bad_cells_name_file_row_and_field[empty]"),
    ),
    Mutant(
        "data_error_without_field",
        "a DataError's message leaves out the field (the column) it concerns",
        (Edit("ofa_mue/errors.py",
              "            where += f\", field '{field}'\"\n",
              "            pass\n"),),
        ("tests/test_data_tsv.py::test_missing_column_names_file_row_and_field",
         "tests/test_data_tsv.py::test_invalid_utf8_names_row_and_field",
         "tests/test_data_images.py::test_bad_cells_name_file_row_and_field[empty]"),
    ),
    Mutant(
        "data_error_names_the_file_without_its_folder",
        "a DataError's message names its file without the folder (test.tsv, not snli_ve/test.tsv): the user "
        "cannot tell which task's or split's file is malformed",
        (Edit("ofa_mue/errors.py",
              "        where = str(path)\n",
              "        where = str(path).rsplit(\"/\", 1)[-1]\n"),),
        ("tests/test_data_tsv.py::test_missing_column_names_file_row_and_field",
         "tests/test_data_images.py::test_bad_cells_name_file_row_and_field[empty]",
         DEMO_PRETRAIN + "test_a_broken_vocabulary_is_a_usage_error_naming_its_file"),
    ),
    Mutant(
        "input_errors_not_value_errors",
        "ofa_mue's input errors (OFAMuEError) no longer derive from ValueError: the commands that turn a "
        "ValueError into a usage error (the demo's) end on a traceback for bad data instead",
        (Edit("ofa_mue/errors.py",
              "class OFAMuEError(ValueError):\n",
              "class OFAMuEError(Exception):\n"),),
        (DEMO_PRETRAIN + "test_a_broken_vocabulary_is_a_usage_error_naming_its_file",),
    ),
    Mutant(
        "user_dir_is_the_checkout_root",
        "python -m ofa_mue.user_dir prints the folder above the package (the checkout or site-packages): "
        "fairseq's --user-dir imports that folder under its own name, which from a checkout registers the "
        "models a second time (fairseq-train fails on a duplicate architecture) and from an install none",
        (Edit("ofa_mue/user_dir.py",
              "    return os.path.dirname(os.path.abspath(ofa_mue.__file__))\n",
              "    return os.path.dirname(os.path.dirname(os.path.abspath(ofa_mue.__file__)))\n"),),
        ("tests/test_cli.py::test_the_user_dir_registers_the_tasks_models_and_criterions_with_fairseq",
         "tests/test_cli.py::test_python_dash_m_ofa_mue_is_the_same_command"),
    ),
    Mutant(
        "user_dir_is_the_package_init_file",
        "python -m ofa_mue.user_dir prints the package's __init__.py instead of its folder: fairseq's "
        "--user-dir cannot import it as a module",
        (Edit("ofa_mue/user_dir.py",
              "    return os.path.dirname(os.path.abspath(ofa_mue.__file__))\n",
              "    return os.path.abspath(ofa_mue.__file__)\n"),),
        ("tests/test_cli.py::test_the_user_dir_registers_the_tasks_models_and_criterions_with_fairseq",
         "tests/test_cli.py::test_python_dash_m_ofa_mue_is_the_same_command"),
    ),
    Mutant(
        "scst_reward_without_end_word",
        "SCST's CIDEr-D reward scores the sampled captions and the references as they are, where OFA's "
        "scst_loss ends each with the word <eos> (its n-grams reward a caption's last words)",
        (Edit("criterions/scst.py", 'END_WORD = "<eos>"', "END_WORD = None"),),
        (f"{SCST}test_each_captions_reward_is_its_cider_d_against_all_its_images_references",
         f"{SCST}test_document_frequencies_from_the_training_split",
         f"{SCST}test_fairseq_train_takes_document_frequencies_from_the_training_split_by_default"),
    ),
    Mutant(
        "cider_document_frequencies_without_end_word",
        "a CIDEr-D scorer with an end word counts its document frequencies from the references without it, "
        "so the n-grams ending in <eos> look rare (OFA's cached frequencies were counted with it)",
        (Edit("criterions/cider_reward.py",
              "for ngram in precook(scored_words(ref, end_word), NGRAM_ORDER)})",
              "for ngram in precook(tokenize(ref), NGRAM_ORDER)})"),),
        (f"{SCST}test_each_captions_reward_is_its_cider_d_against_all_its_images_references",),
    ),
    Mutant(
        "evaluate_other_generators_table_unmerged",
        "python -m ofa_mue.evaluate and the commands sharing load_evaluation accept and ignore --eos-token, "
        "--no-early-stop, --no-beamable-mm (and the other generators' options)",
        (Edit("ofa_mue/evaluate.py", '    **UNIMPLEMENTED_GENERATION_OPTIONS, "replace_unk"', '    "replace_unk"'),),
        (f"{GENERATION_HABITS}test_generation_options_no_generator_here_honours_are_refused_before_loading"
         "[eos-token-ofa_mue.evaluate]",
         f"{GENERATION_HABITS}test_generation_options_no_generator_here_honours_are_refused_before_loading"
         "[no-beamable-mm-ofa_mue.sweep]"),
    ),
    Mutant(
        "evaluate_options_without_their_switch_accepted",
        "the evaluation accepts --diverse-beam-strength without --diverse-beam-groups (ignored) and "
        "--sampling-topk without --sampling (an AssertionError after the checkpoint loads)",
        (Edit("ofa_mue/evaluate.py", "    refuse_options_without_their_switch(cfg.generation)\n", ""),),
        (f"{GENERATION_HABITS}test_generation_options_no_generator_here_honours_are_refused_before_loading"
         "[diverse-beam-strength-without-groups-ofa_mue.evaluate]",
         f"{GENERATION_HABITS}test_generation_options_no_generator_here_honours_are_refused_before_loading"
         "[sampling-topk-without-sampling-ofa_mue.calibrate]"),
    ),
    Mutant(
        "generation_json_unusable_keys_accepted",
        "--eval-args/--scst-args accept fairseq generation options their generator never reads (nbest, "
        "prefix_size, lm_path, ...) and drop them silently",
        (Edit("tasks/generation_options.py", "        if key not in JSON_GENERATION_OPTIONS:\n",
              "        if key not in GenerationConfig.__dataclass_fields__:\n"),),
        (f"{EVAL_HABITS}test_generation_json_keys_the_generator_cannot_honour_are_refused[nbest---eval-args-eval_args]",
         f"{EVAL_HABITS}test_generation_json_keys_the_generator_cannot_honour_are_refused"
         "[lm_path---scst-args-scst_args]"),
    ),
    Mutant(
        "snli_ve_unkpen_ignored",
        "fairseq-generate and the evaluation on SNLI-VE accept --unkpen and ignore it: the answers are scored "
        "teacher-forced",
        (Edit("tasks/snli_ve.py", '"unkpen": ("--unkpen", 0), ', ""),),
        (f"{GENERATION_HABITS}test_fairseq_generate_on_snli_ve_refuses_what_its_scoring_ignores[unkpen]",
         f"{GENERATION_HABITS}test_snli_ve_evaluation_refuses_what_its_scoring_ignores[unkpen]"),
    ),
    Mutant(
        "snli_ve_evaluation_takes_caption_generation_defaults",
        "the SNLI-VE evaluation keeps the caption evaluation's defaults (--no-repeat-ngram-size 3), so every "
        "SNLI-VE evaluation is refused for an n-gram size it was never given",
        (Edit("ofa_mue/evaluate.py", '    if task_name(parser, argv) != "caption":\n', "    if False:\n"),),
        (f"{GENERATION_HABITS}test_snli_ve_evaluation_takes_no_caption_generation_default_as_given[defaults]",),
    ),
    Mutant(
        "caption_generator_reads_unimplemented_options_silently",
        "fairseq-generate accepts and ignores other generators' options (--eos-token, --iter-decode-*, ...) and "
        "--lm-weight without --lm-path",
        (Edit("tasks/ofa_task.py", "        refuse_unimplemented_generation(args)\n", ""),),
        (f"{GENERATION_HABITS}test_fairseq_generate_refuses_caption_options_its_generator_cannot_honour[eos-token]",
         f"{GENERATION_HABITS}test_fairseq_generate_refuses_caption_options_its_generator_cannot_honour"
         "[lm-weight without lm-path]"),
    ),
    Mutant(
        "caption_evaluation_min_len_checked_late",
        "evaluate --min-len 20 (above the default --max-len-b 16) loads the checkpoint and stops on fairseq's "
        "AssertionError at the first batch",
        (Edit("tasks/caption.py", "        refuse_unreachable_min_len(generation_cfg)\n", ""),),
        (f"{GENERATION_HABITS}test_caption_evaluation_refuses_a_min_len_no_caption_reaches",),
    ),
    Mutant(
        "constraints_reach_fairseqs_constrained_search",
        "fairseq-generate --constraints builds fairseq's constrained search, which fails with a TypeError on the "
        "first batch (no row holds constraints)",
        (Edit("tasks/generation_options.py", '    if getattr(args, "constraints", None):\n', "    if False:\n"),),
        (f"{GENERATION_HABITS}test_fairseq_generate_refuses_caption_options_its_generator_cannot_honour[constraints]",),
    ),
    Mutant(
        "demo_snli_label_smoothing_unchecked",
        "demo.sh takes a DEMO_SNLI_LABEL_SMOOTHING of 1 or more and trains SNLI-VE with it after the data, "
        "pretraining and caption model, instead of refusing it before anything runs",
        (Edit("run_scripts/demo.sh", """sys.exit(float(sys.argv[1]) >= 1)' "$SNLI_LABEL_SMOOTHING\"""",
              """sys.exit(0)' "$SNLI_LABEL_SMOOTHING\""""),),
        ("tests/test_demo_data.py::test_demo_script_refuses_training_settings_it_cannot_honour[snli_label_smoothing_one]",),
    ),
    Mutant(
        "snli_settings_arm_smoothing_ignored",
        "benchmarks/snli_settings.py trains every arm with label smoothing 0.1 whatever the arm names, so its "
        "table compares learning rates only",
        (Edit("benchmarks/grounding_stage.py", '"--label-smoothing", str(label_smoothing),',
              '"--label-smoothing", "0.1",'),),
        ("tests/test_snli_settings_benchmark.py::test_an_arm_trains_with_its_settings_and_a_model_of_other_settings_is_not_reused",),
    ),
    Mutant(
        "ensemble_encoder_flops_counted_once",
        "an ensemble's FLOPs count one model's encoder (ResNet and both streams) however many models encode, so "
        "a two-checkpoint ensemble reports fewer FLOPs than it computes",
        (Edit("ofa_mue/core/flops.py", "        parts[part] *= example.models\n", "        parts[part] *= 1\n"),),
        ("tests/test_early_exit_inference.py::test_an_ensembles_layers_and_flops_count_every_model",),
    ),
    Mutant(
        "ensemble_encoder_passes_not_counted",
        "the exit session keeps the last model's encoder record of an ensemble and counts one model, so the "
        "ensemble's encoder FLOPs and encoder keys/values of its decoder rows are one model's",
        (Edit("ofa_mue/core/early_exit.py", "            self._stream_passes[name] += 1\n", ""),),
        ("tests/test_early_exit_inference.py::test_an_ensembles_layers_and_flops_count_every_model",),
    ),
    Mutant(
        "ensemble_of_other_shapes_accepted",
        "an ensemble of models of different depths is accepted and its layers and FLOPs counted with the first "
        "model's shape (or an internal error from the exit session)",
        (Edit("ofa_mue/core/early_exit_generator.py", "        if len(shapes) > 1:\n", "        if False:\n"),),
        ("tests/test_early_exit_inference.py::test_an_ensemble_of_models_of_other_shapes_is_refused",),
    ),
    Mutant(
        "fairseq_generate_assertions_keep_traceback",
        "fairseq-generate's own assertions on --sampling with --nbest and on --replace-unk end in their traceback, "
        "not the one line saying what to do",
        (Edit("ofa_mue/one_line_errors.py", "        message = fairseq_generate_message(error)\n", "        pass\n"),),
        (f"{GENERATION_HABITS}test_fairseq_generate_ends_in_one_line_on_options_it_cannot_run[sampling-with-nbest-below-beam]",
         f"{GENERATION_HABITS}test_fairseq_generate_ends_in_one_line_on_options_it_cannot_run[replace-unk]"),
    ),
    Mutant(
        "any_assertion_with_generates_message_one_line",
        "an AssertionError raised anywhere with one of fairseq-generate's messages is shown as its one line, hiding "
        "a traceback that is not fairseq-generate's",
        (Edit("ofa_mue/one_line_errors.py",
              "    if type(error) is not AssertionError or not code.co_filename.endswith(_FAIRSEQ_GENERATE):\n",
              "    if type(error) is not AssertionError:\n"),),
        (f"{GENERATION_HABITS}test_only_fairseq_generates_own_assertions_become_one_line",),
    ),
    Mutant(
        "search_conflicts_reach_fairseq",
        "the task's generator lets options that choose different searches through: fairseq-generate ends on "
        "fairseq's ValueError naming no option (or ignores --diversity-rate 0)",
        (Edit("tasks/generation_options.py", "    refuse_options_without_their_switch(args)\n    refuse_other_searches(args)\n",
              "    refuse_options_without_their_switch(args)\n"),),
        (f"{GENERATION_HABITS}test_fairseq_generate_refuses_caption_options_its_generator_cannot_honour"
         "[sampling with diverse-beam-groups]",
         f"{GENERATION_HABITS}test_fairseq_generate_refuses_caption_options_its_generator_cannot_honour"
         "[diverse-beam-groups with diversity-rate 0]",
         f"{GENERATION_HABITS}test_fairseq_generate_ends_in_one_line_on_options_it_cannot_run"
         "[sampling-with-diverse-beam-groups]"),
    ),
    Mutant(
        "diversity_rate_counted_as_fairseqs_exclusion",
        "--diversity-rate counts as a search only above 0, as fairseq's exclusion test does: a rate of 0 after "
        "another search is silently ignored",
        (Edit("tasks/generation_options.py", '"diverse siblings search", rate > -1),',
              '"diverse siblings search", rate > 0),'),),
        (f"{GENERATION_HABITS}test_fairseq_generate_refuses_caption_options_its_generator_cannot_honour"
         "[diverse-beam-groups with diversity-rate 0]",),
    ),
    Mutant(
        "json_search_conflict_unnamed",
        "--eval-args/--scst-args JSON choosing two searches is refused only by the generator, without naming the "
        "flag that holds it",
        (Edit("tasks/generation_options.py", "        refuse_other_searches(namespace)\n", ""),),
        (f"{EVAL_HABITS}test_generation_json_keys_the_generator_cannot_honour_are_refused"
         "[sampling with diverse_beam_groups---eval-args-eval_args]",
         f"{EVAL_HABITS}test_generation_json_keys_the_generator_cannot_honour_are_refused"
         "[sampling with diverse_beam_groups---scst-args-scst_args]"),
    ),
    Mutant(
        "evaluation_search_conflict_after_loading",
        "the inference commands load the checkpoint before refusing options that choose different searches",
        (Edit("ofa_mue/evaluate.py", "    refuse_other_searches(cfg.generation)\n", ""),),
        tuple(f"{GENERATION_HABITS}test_generation_options_no_generator_here_honours_are_refused_before_loading"
              f"[sampling-with-diverse-beam-groups-{module}]"
              for module in ("ofa_mue.evaluate", "ofa_mue.calibrate", "ofa_mue.sweep", "ofa_mue.reproduce")),
    ),
    Mutant(
        "replace_unk_with_raw_dataset_generates",
        "fairseq-generate --replace-unk FILE --dataset-impl raw (past fairseq's assertion) generates and ends on "
        "an AttributeError for the source text the task's data does not hold",
        (Edit("tasks/generation_options.py", '    if getattr(args, "replace_unk", None):', "    if False:"),),
        (f"{GENERATION_HABITS}test_fairseq_generate_refuses_replace_unk_past_its_own_assertion[dictionary]",),
    ),
    Mutant(
        "replace_unk_align_dict_traceback",
        "fairseq-generate --replace-unk --dataset-impl raw ends on fairseq's traceback from reading the option's "
        "value as a file ('@@ ' when bare), not the one line saying --replace-unk cannot apply",
        (Edit("ofa_mue/one_line_errors.py", '    if code.co_name == "load_align_dict"', "    if False"),),
        (f"{GENERATION_HABITS}test_fairseq_generate_refuses_replace_unk_past_its_own_assertion[bare]",
         f"{GENERATION_HABITS}test_fairseq_generate_refuses_replace_unk_past_its_own_assertion[broken_dictionary]"),
    ),
    Mutant(
        "recipe_ignores_sweep_args",
        "the SNLI-VE evaluation recipe accepts SWEEP_ARGS and sweeps its default grid all the same",
        (Edit("run_scripts/snli_ve/evaluate_mue.sh", '--sweep-dir "$OUT/sweep" "${SWEEP_EXTRA[@]}"',
              '--sweep-dir "$OUT/sweep"'),),
        ("tests/test_evaluation_recipes.py::test_the_recipes_pass_calibrate_and_sweep_options_on_and_their_commands_"
         "refuse_unknown_ones[run_scripts/snli_ve/evaluate_mue.sh]",),
    ),
    Mutant(
        "caption_recipe_ignores_calibrate_args",
        "the caption evaluation recipe accepts CALIBRATE_ARGS and calibrates on its default candidates all the same",
        (Edit("run_scripts/caption/evaluate_mue.sh", '--profile-path "$OUT/profile.json" "${CALIBRATE_EXTRA[@]}"',
              '--profile-path "$OUT/profile.json"'),),
        ("tests/test_evaluation_recipes.py::test_the_recipes_pass_calibrate_and_sweep_options_on_and_their_commands_"
         "refuse_unknown_ones[run_scripts/caption/evaluate_mue.sh]",),
    ),
    Mutant(
        "timing_garbage_of_earlier_runs_kept",
        "the timing protocol no longer collects garbage before each timed run (a run pays for the "
        "collection of the runs before it, unevenly across arms)",
        (Edit("ofa_mue/timing.py", "                gc.collect()\n", "                pass\n"),),
        ("tests/test_timing_protocol.py::test_each_run_starts_with_the_garbage_of_the_runs_before_collected",),
    ),
    Mutant(
        "caption_java_checked_after_generation",
        "a caption evaluation on a machine without Java generates every caption before the metrics fail",
        (Edit("tasks/caption.py", "        require_java()\n", ""),),
        ("tests/test_caption_references.py::test_a_caption_evaluation_without_java_is_refused_before_it_generates",),
    ),
    Mutant(
        "predict_collapses_hypothesis_whitespace",
        "predict rewrites the whitespace of --hypothesis / --premise before OFA's clean-up (a non-breaking "
        "space dropped, a leading space removed), so the model reads other tokens than a TSV row of that text gives",
        (Edit("ofa_mue/predict.py", '    text = re.sub(r"[\\t\\r\\n]", " ", text)\n', '    text = " ".join(text.split())\n'),),
        tuple(f"tests/test_predict.py::test_hypothesis_text_reaches_the_tsv_as_given[{case}]"
              for case in ("non-breaking-space", "leading-space-and-dot")),
    ),
    Mutant(
        "caption_prefix_size_forced_from_first_reference",
        "fairseq-generate --prefix-size on captions forces the start of the first reference, where OFA forces "
        "the start of all the references joined by '&&', silently",
        (Edit("tasks/caption.py",
              '        refuse_generation_options(args, {"prefix_size": ("--prefix-size", 0)}, PREFIX_SIZE_REFUSAL)\n', ""),),
        ("tests/test_early_exit_inference.py::test_caption_generation_refuses_a_forced_prefix",),
    ),
    Mutant(
        "decaying_horizon_beside_max_len_a",
        "fairseq-generate with a decaying decoder threshold and --max-len-a or --match-source-len decays over "
        "--max-len-b while the length limit follows the source",
        (Edit("tasks/ofa_task.py", "        refuse_batch_dependent_horizon(args, policy)\n", ""),),
        tuple(f"tests/test_early_exit_inference.py::test_a_decaying_threshold_refuses_a_length_limit_other_than_"
              f"max_len_b[{case}]" for case in ("max-len-a", "match-source-len")),
    ),
    Mutant(
        "shards_of_another_split_file_merged",
        "shards whose split file changed under the same path (another copy of the data) merge into one result",
        (Edit("ofa_mue/evaluate.py",
              '                "data_fingerprint": checkpoint_fingerprint(self.task.split_path(self.split)),\n', ""),),
        ("tests/test_sharded_evaluation.py::test_shards_of_other_data_or_settings_under_the_same_paths_are_refused",),
    ),
    Mutant(
        "sampling_across_shards",
        "--sampling with --num-shards runs, each shard drawing from the same seed: the merge is not the "
        "unsharded run's",
        (Edit("ofa_mue/evaluate.py", "    if shard.is_part and cfg.generation.sampling:\n", "    if False:\n"),),
        ("tests/test_sharded_evaluation.py::test_shards_of_other_data_or_settings_under_the_same_paths_are_refused",),
    ),
    Mutant(
        "pareto_path_keeps_slower_tied_loss",
        "the Pareto path of the certified calibration also tests the slower of two configurations with the same "
        "learning loss (a wasted test that can stop the fixed sequence early)",
        (Edit("ofa_mue/core/risk_control.py", "np.lexsort((-reductions, losses))", "np.lexsort((reductions, losses))"),),
        (RISK + "test_pareto_path_drops_configurations_tied_with_a_better_one",),
    ),
    Mutant(
        "pareto_path_keeps_equal_reduction",
        "the Pareto path also tests a configuration that saves no more time than one of lower loss",
        (Edit("ofa_mue/core/risk_control.py", "        if reductions[index] > best:\n",
              "        if reductions[index] >= best:\n"),),
        (RISK + "test_pareto_path_drops_configurations_tied_with_a_better_one",),
    ),
    Mutant(
        "fixed_sequence_tests_on_a_learning_row",
        "the fixed-sequence procedure's testing rows include the last learning row, so the order is not "
        "independent of the rows that test it",
        (Edit("ofa_mue/core/risk_control.py", "learn, test = order[:learn_rows], order[learn_rows:]",
              "learn, test = order[:learn_rows], order[learn_rows - 1:]"),),
        (RISK + "test_fixed_sequence_tests_on_exactly_the_rows_it_did_not_learn_from[None]",
         RISK + "test_fixed_sequence_tests_on_exactly_the_rows_it_did_not_learn_from[5]"),
    ),
    Mutant(
        "fixed_sequence_learns_on_the_first_rows",
        "the fixed-sequence procedure learns its order on the file's first rows instead of a random draw (a "
        "sorted calibration file biases the order)",
        (Edit("ofa_mue/core/risk_control.py",
              "order = (rng if rng is not None else np.random.default_rng(0)).permutation(rows)",
              "order = np.arange(rows)"),),
        (RISK + "test_fixed_sequence_tests_on_exactly_the_rows_it_did_not_learn_from[None]",
         RISK + "test_fixed_sequence_tests_on_exactly_the_rows_it_did_not_learn_from[5]"),
    ),
    Mutant(
        "fixed_sequence_split_unseeded",
        "without an rng the certified calibration draws its learning rows unseeded: the same table certifies "
        "differently from run to run",
        (Edit("ofa_mue/core/risk_control.py", "np.random.default_rng(0)).permutation(rows)",
              "np.random.default_rng()).permutation(rows)"),),
        (RISK + "test_fixed_sequence_tests_on_exactly_the_rows_it_did_not_learn_from[None]",),
    ),
    Mutant(
        "bonferroni_counts_the_full_model",
        "Bonferroni tests each configuration at delta / (K + 1), counting the never-tested full model (the "
        "reported level is wrong and it certifies less)",
        (Edit("ofa_mue/core/risk_control.py", "        level = delta / configurations\n",
              "        level = delta / (configurations + 1)\n"),),
        (RISK + "test_bonferroni_tests_each_configuration_at_delta_over_the_configurations",
         RISK + "test_a_p_value_equal_to_the_level_rejects[bonferroni]"),
    ),
    Mutant(
        "bonferroni_rejects_only_below_level",
        "Bonferroni rejects only when p < level, so a p-value equal to the level does not certify",
        (Edit("ofa_mue/core/risk_control.py", "certified = [k for k, p in p_values.items() if p <= level]",
              "certified = [k for k, p in p_values.items() if p < level]"),),
        (RISK + "test_a_p_value_equal_to_the_level_rejects[bonferroni]",),
    ),
    Mutant(
        "fixed_sequence_stops_at_the_level",
        "the fixed sequence stops at a p-value equal to delta instead of rejecting",
        (Edit("ofa_mue/core/risk_control.py", "            if p_values[k] > level:\n",
              "            if p_values[k] >= level:\n"),),
        (RISK + "test_a_p_value_equal_to_the_level_rejects[fixed-sequence]",),
    ),
    Mutant(
        "rows_needed_rounds_losses_up",
        "rows_needed counts ceil(n * observed risk) 0/1 losses instead of floor, overstating the calibration "
        "rows needed",
        (Edit("ofa_mue/core/risk_control.py", "stats.binom.cdf(np.floor(n * observed_risk), n, epsilon)",
              "stats.binom.cdf(np.ceil(n * observed_risk), n, epsilon)"),),
        (RISK + "test_rows_needed_with_losses_counts_the_observed_share_rounded_down",),
    ),
    Mutant(
        "envelope_keeps_worse_of_equal_reductions",
        "of two static settings with the same expected reduction the envelope keeps the worse one (static "
        "truncation drawn worse than it is)",
        (Edit("ofa_mue/envelope.py", "        best[x] = max(y, best.get(x, y))\n",
              "        best[x] = min(y, best.get(x, y))\n"),),
        ("tests/test_reproduce.py::test_static_settings_with_the_same_reduction_count_at_their_best_quality",),
    ),
    Mutant(
        "held_out_choice_reports_requested_reduction",
        "static truncation chosen on the validation split reports the reduction it was chosen at instead of the "
        "one its settings reach on the scored split",
        (Edit("ofa_mue/envelope.py", "x_left + share * (x_right - x_left), left, right, share)",
              "x, left, right, share)"),),
        ("tests/test_reproduce.py::test_static_choice_reports_the_reduction_measured_on_the_scored_split",),
    ),
    Mutant(
        "oracle_quality_uncapped",
        "the per-example oracle's quality is reported uncapped: a cheapest depth right by luck where the full "
        "model is wrong is credited",
        (Edit("ofa_mue/adaptivity_bound.py", "float(capped[choice, columns].mean())",
              "float(scores[choice, columns].mean())"),),
        (ADAPTIVITY + "test_the_oracles_quality_is_capped_also_where_its_cheapest_depth_is_right_by_luck",),
    ),
    Mutant(
        "threshold_grid_without_single_knobs_off",
        "the calibration grid never turns one stream's exits off alone: only combinations with every knob on "
        "(and the full model) are evaluated",
        (Edit("ofa_mue/calibration_table.py",
              "itertools.product(*([NEVER, *values] for values in (image, text, decoder)))",
              "itertools.product(*(list(values) for values in (image, text, decoder)))"),),
        (RETENTION + "test_the_grid_is_the_full_model_then_every_combination_with_each_knob_also_off",),
    ),
    Mutant(
        "threshold_grid_keeps_duplicates",
        "the calibration grid repeats configurations (the full model among them), evaluating them twice and "
        "inflating Bonferroni's K",
        (Edit("ofa_mue/calibration_table.py", "        if combination not in grid:\n            grid.append(combination)\n",
              "        grid.append(combination)\n"),),
        (RETENTION + "test_the_grid_is_the_full_model_then_every_combination_with_each_knob_also_off",),
    ),
    Mutant(
        "calibration_records_not_sorted_by_row",
        "a calibration table stores a split's records in the order they come (shards, workers) instead of by row",
        (Edit("ofa_mue/calibration_table.py", '    records = sorted(records, key=lambda r: r["row"])\n',
              "    records = list(records)\n"),),
        (RETENTION + "test_records_in_any_order_are_stored_by_row_and_other_targets_are_refused",),
    ),
    Mutant(
        "calibration_table_targets_unchecked",
        "records of the same row numbers but another split's targets are added to a calibration table without error",
        (Edit("ofa_mue/calibration_table.py", " or [r[TARGET_FIELD[task]] for r in records] != table.targets:\n",
              ":\n"),),
        (RETENTION + "test_records_in_any_order_are_stored_by_row_and_other_targets_are_refused",),
    ),
    Mutant(
        "calibration_configurations_full_model_not_first",
        "a calibration table whose entries list the full model after another configuration gives that "
        "configuration first",
        (Edit("ofa_mue/calibration_table.py",
              "        return [FULL_MODEL] + [k for k in self.entries if k != FULL_MODEL]\n",
              "        return list(self.entries)\n"),),
        (RETENTION + "test_the_full_model_is_the_first_configuration_wherever_its_entry_is",),
    ),
    Mutant(
        "calibration_scorer_from_new_configuration",
        "a configuration added to a calibration table read back from its file is scored (ROUGE-L) against its "
        "own captions instead of the full model's",
        (Edit("ofa_mue/calibration_table.py",
              '        full_predictions = ([r["prediction"] for r in records] if thresholds == FULL_MODEL\n'
              '                            else table.entries[FULL_MODEL]["predictions"])\n',
              '        full_predictions = [r["prediction"] for r in records]\n'),),
        (RETENTION + "test_a_read_back_table_scores_new_captions_against_its_full_models_captions",),
    ),
    Mutant(
        "snli_ve_label_not_stripped",
        "an SNLI-VE label cell with surrounding spaces is refused as an unknown label",
        (Edit("data/snli_ve_dataset.py", '        label = row["label"].strip()\n', '        label = row["label"]\n'),),
        (SNLI_DATA + "test_label_cells_with_surrounding_spaces_are_read",),
    ),
    Mutant(
        "grey_levels_truncated",
        "16-bit and floating-point grey images are truncated to the 8-bit level below instead of rounded to the "
        "nearest",
        (Edit("data/images.py", "values.round().astype(np.uint8)", "values.astype(np.uint8)"),),
        (IMAGES + "test_grey_levels_round_to_the_nearest_and_clip_to_black_and_white[16-bit-rounds]",
         IMAGES + "test_grey_levels_round_to_the_nearest_and_clip_to_black_and_white[float-rounds]"),
    ),
    Mutant(
        "int_grey_not_clipped",
        "32-bit integer images with values above 65535 wrap around in uint8 instead of showing white",
        (Edit("data/images.py", "np.asarray(image, dtype=np.float64).clip(0, 65535) / 257",
              "np.asarray(image, dtype=np.float64) / 257"),),
        (IMAGES + "test_grey_levels_round_to_the_nearest_and_clip_to_black_and_white[int-above-clips]",),
    ),
    Mutant(
        "sampling_stream_seeded_once",
        "the random streams seeded once, at load: with --sampling, each exit setting calibrate, sweep or "
        "reproduce scores draws from where the settings before it left the stream, not as its own evaluation does",
        (Edit("ofa_mue/evaluate.py", "        self.seed_random_streams()\n        return score_rows(",
              "        return score_rows("),
         Edit("ofa_mue/evaluate.py", "    task.load_dataset(setup.split)\n",
              "    setup.seed_random_streams()\n    task.load_dataset(setup.split)\n")),
        (EVAL_HABITS + "test_sampling_draws_a_settings_captions_as_its_own_evaluation_does",),
    ),
    Mutant(
        "bootstrap_percentile",
        "MuE-against-static intervals are plain percentile bootstrap intervals, not the BCa ones the tables "
        "name (too short on the side of skewed per-example CIDEr-D differences)",
        (Edit("ofa_mue/significance.py", 'method="BCa", rng', 'method="percentile", rng'),),
        ("tests/test_significance.py::"
         "test_interval_of_skewed_differences_is_the_bias_corrected_and_accelerated_one",),
    ),
    Mutant(
        "checkpoint_speed_warmup_dropped",
        "benchmarks/checkpoint_speed.py times its arms without the warm-up rounds --warmup asks for (the cold "
        "first runs are timed)",
        (Edit("benchmarks/checkpoint_speed.py", "times = interleaved_times(runners, repetitions, warmup, device,",
              "times = interleaved_times(runners, repetitions, 0, device,"),),
        (SPEED_MEASURE,),
    ),
    Mutant(
        "checkpoint_speed_ratio_of_median_times",
        "benchmarks/checkpoint_speed.py's measured reduction is 1 - the ratio of the arms' median times instead "
        "of 1 - the median of the paired per-repetition ratios",
        (Edit("benchmarks/checkpoint_speed.py", '"measured_reduction": 1.0 - ratio["median"],',
              '"measured_reduction": 1.0 - time_stats(times[name])["median_s"] / time_stats(times["off"])["median_s"],'),),
        (SPEED_MEASURE,),
    ),
    Mutant(
        "checkpoint_speed_reduction_quartiles_not_flipped",
        "benchmarks/checkpoint_speed.py's measured reduction takes its lower quartile from the time ratio's "
        "lower quartile: the interval is upside down",
        (Edit("benchmarks/checkpoint_speed.py", '[1.0 - ratio["q3"], 1.0 - ratio["q1"]]',
              '[1.0 - ratio["q1"], 1.0 - ratio["q3"]]'),),
        (SPEED_MEASURE,),
    ),
    Mutant(
        "checkpoint_speed_static_ratio_inverted",
        "benchmarks/checkpoint_speed.py's target ratio is static truncation's reduction over MuE's (a MuE "
        "slower than the bound meets the >= 0.97 target)",
        (Edit("benchmarks/checkpoint_speed.py",
              'static_ratio = mue["measured_reduction"] / static["measured_reduction"] if',
              'static_ratio = static["measured_reduction"] / mue["measured_reduction"] if'),),
        (SPEED_MEASURE,),
    ),
    Mutant(
        "checkpoint_speed_reductions_against_the_never_arm",
        "benchmarks/checkpoint_speed.py measures every arm against the never-firing arm instead of the full model",
        (Edit("benchmarks/checkpoint_speed.py", 'ratio = ratio_stats(times[name], times["off"])',
              'ratio = ratio_stats(times[name], times["never"])'),),
        (SPEED_MEASURE,),
    ),
    Mutant(
        "layerwise_vs_plain_caption_loss_in_nats",
        "benchmarks/layerwise_vs_plain.py's caption table gives each layer's NLL in nats while it says bits "
        "per token",
        (Edit("benchmarks/layerwise_vs_plain.py", "return [total / tokens / math.log(2) for total in sums]",
              "return [total / tokens for total in sums]"),),
        (LAYERWISE_VS_PLAIN + "test_caption_loss_by_layer_is_each_layers_nll_in_bits_per_token",),
    ),
    Mutant(
        "layerwise_vs_plain_caption_loss_smoothed",
        "benchmarks/layerwise_vs_plain.py measures each layer's label-smoothed loss instead of its NLL",
        (Edit("benchmarks/layerwise_vs_plain.py", "LayerwiseLabelSmoothedCrossEntropy(task, label_smoothing=0.0)",
              "LayerwiseLabelSmoothedCrossEntropy(task, label_smoothing=0.1)"),),
        (LAYERWISE_VS_PLAIN + "test_caption_loss_by_layer_is_each_layers_nll_in_bits_per_token",),
    ),
    Mutant(
        "layerwise_vs_plain_caption_loss_per_sentence",
        "benchmarks/layerwise_vs_plain.py divides each layer's summed NLL by the captions instead of their tokens",
        (Edit("benchmarks/layerwise_vs_plain.py", "            tokens += ntokens\n",
              '            tokens += sample["nsentences"]\n'),),
        (LAYERWISE_VS_PLAIN + "test_caption_loss_by_layer_is_each_layers_nll_in_bits_per_token",),
    ),
    Mutant(
        "layerwise_vs_plain_caption_layers_shifted",
        "benchmarks/layerwise_vs_plain.py's caption column k holds layer k + 1's loss (the last column repeats "
        "the last layer's)",
        (Edit("benchmarks/layerwise_vs_plain.py",
              'sums = [total + float(log[f"loss_layer{k}"]) for k, total in enumerate(sums, start=1)]',
              'sums = [total + float(log[f"loss_layer{min(k + 1, DEPTH)}"]) for k, total in enumerate(sums, start=1)]'),),
        (LAYERWISE_VS_PLAIN + "test_caption_loss_by_layer_is_each_layers_nll_in_bits_per_token",),
    ),
    Mutant(
        "layerwise_vs_plain_accuracy_printed_as_a_fraction",
        "benchmarks/layerwise_vs_plain.py prints an accuracy of 0.9 as 0.9% instead of 90.0%",
        (Edit("benchmarks/layerwise_vs_plain.py", 'f"{100 * a:.1f}%" for a in', 'f"{a:.1f}%" for a in'),),
        (LAYERWISE_VS_PLAIN + "test_the_tables_rows_are_the_losses_they_name",),
    ),
    Mutant(
        "layerwise_vs_plain_caption_rows_from_snli",
        "benchmarks/layerwise_vs_plain.py's caption table prints the SNLI-VE accuracies",
        (Edit("benchmarks/layerwise_vs_plain.py", 'f"{v:.3f}" for v in results["caption"][loss]',
              'f"{v:.3f}" for v in results["snli_ve"][loss]'),),
        (LAYERWISE_VS_PLAIN + "test_the_tables_rows_are_the_losses_they_name",),
    ),
    Mutant(
        "guarantee_split_tested_on_its_calibration_rows",
        "benchmarks/guarantee_check.py's split mode scores each calibration on the rows it calibrated on instead "
        "of the other part of the pool: in-sample losses, no violation ever shows",
        (Edit("benchmarks/guarantee_check.py",
              '("split", order[:calibration_rows], order[calibration_rows:])',
              '("split", order[:calibration_rows], order[:calibration_rows])'),),
        (GUARANTEE_SCORED,),
    ),
    Mutant(
        "guarantee_split_tested_on_the_whole_pool",
        "benchmarks/guarantee_check.py's split mode scores each calibration on the whole pool, its own "
        "calibration rows included, instead of the rows it left out",
        (Edit("benchmarks/guarantee_check.py",
              '("split", order[:calibration_rows], order[calibration_rows:])',
              '("split", order[:calibration_rows], order)'),),
        (GUARANTEE_SCORED,),
    ),
    Mutant(
        "guarantee_calibrated_on_the_test_part",
        "benchmarks/guarantee_check.py's methods calibrate on the rows that then score them",
        (Edit("benchmarks/guarantee_check.py", "chosen = select(calibration)", "chosen = select(test)"),),
        (GUARANTEE_SCORED,),
    ),
    Mutant(
        "guarantee_resample_true_risk_on_the_draw",
        "benchmarks/guarantee_check.py's resample mode takes the chosen configuration's risk on the drawn "
        "calibration rows instead of the whole pool (the distribution): an in-sample loss, not the true risk",
        (Edit("benchmarks/guarantee_check.py", '("resample", resampled, np.arange(pool))',
              '("resample", resampled, resampled)'),),
        (GUARANTEE_SCORED,),
    ),
    Mutant(
        "guarantee_resample_without_replacement",
        "benchmarks/guarantee_check.py's resample mode draws its calibration rows without replacement (a "
        "subsample of the pool, not a draw from the distribution the guarantee is about)",
        (Edit("benchmarks/guarantee_check.py", "resampled = rng.integers(0, pool, calibration_rows)",
              "resampled = rng.permutation(pool)[:calibration_rows]"),),
        (GUARANTEE + "test_resample_mode_draws_the_calibration_rows_with_replacement",),
    ),
    Mutant(
        "guarantee_violation_rate_over_calibrations_that_chose",
        "benchmarks/guarantee_check.py's violation rate divides by the calibrations that chose a configuration "
        "instead of all of them (one that kept every exit off cannot violate)",
        (Edit("benchmarks/guarantee_check.py", '"violation_rate": violations / len(runs)',
              '"violation_rate": violations / max(1, sum(not r["off"] for r in runs))'),),
        (GUARANTEE_SCORED,),
    ),
    Mutant(
        "guarantee_violation_at_epsilon",
        "benchmarks/guarantee_check.py counts a loss of exactly epsilon as a violation (the guarantee bounds a "
        "loss above epsilon)",
        (Edit("benchmarks/guarantee_check.py", "violations = sum(loss > epsilon for loss in losses)",
              "violations = sum(loss >= epsilon for loss in losses)"),),
        (GUARANTEE + "test_a_loss_of_exactly_epsilon_is_allowed_and_no_violation",),
    ),
    Mutant(
        "guarantee_within_epsilon_strict",
        "benchmarks/guarantee_check.py's uncorrected best-within-epsilon refuses a configuration whose "
        "calibration loss is exactly epsilon",
        (Edit("benchmarks/guarantee_check.py", "losses[:, rows].mean(axis=1) <= epsilon",
              "losses[:, rows].mean(axis=1) < epsilon"),),
        (GUARANTEE + "test_a_loss_of_exactly_epsilon_is_allowed_and_no_violation",),
    ),
    Mutant(
        "guarantee_retention_strict",
        "benchmarks/guarantee_check.py's uncertified retention refuses a configuration that keeps exactly the "
        "target share of the full model's metric",
        (Edit("benchmarks/guarantee_check.py", ">= retention * full_metric[rows].mean()",
              "> retention * full_metric[rows].mean()"),),
        (GUARANTEE + "test_a_loss_of_exactly_epsilon_is_allowed_and_no_violation",),
    ),
    Mutant(
        "guarantee_retention_target_met_counted_as_missed",
        "benchmarks/guarantee_check.py counts a calibration that keeps exactly the retention target as missing it",
        (Edit("benchmarks/guarantee_check.py", 'r.get("retained", 1.0) < retention',
              'r.get("retained", 1.0) <= retention'),),
        (GUARANTEE + "test_a_loss_of_exactly_epsilon_is_allowed_and_no_violation",),
    ),
    Mutant(
        "guarantee_retained_inverted",
        "benchmarks/guarantee_check.py's retained share taken as full model / chosen configuration: a loss of "
        "quality reads as a gain and never misses the retention target",
        (Edit("benchmarks/guarantee_check.py", '"retained": float(metric[chosen, test].mean() / full_metric[test].mean())',
              '"retained": float(full_metric[test].mean() / metric[chosen, test].mean())'),),
        (GUARANTEE_SCORED,),
    ),
    Mutant(
        "guarantee_retained_on_the_calibration_rows",
        "benchmarks/guarantee_check.py's retained share measured on the calibration rows instead of the test "
        "rows (the uncertified choice meets its target there by construction)",
        (Edit("benchmarks/guarantee_check.py", '"retained": float(metric[chosen, test].mean() / full_metric[test].mean())',
              '"retained": float(metric[chosen, calibration].mean() / full_metric[calibration].mean())'),),
        (GUARANTEE_SCORED,),
    ),
    Mutant(
        "guarantee_reduction_averaged_over_calibrations_that_chose",
        "benchmarks/guarantee_check.py's mean time reduction leaves out the calibrations that kept every exit "
        "off (they save nothing), overstating the reduction",
        (Edit("benchmarks/guarantee_check.py", '"mean_reduction": float(np.mean([r.get("reduction", 0.0) for r in runs]))',
              '"mean_reduction": float(np.mean([r["reduction"] for r in runs if not r["off"]] or [0.0]))'),),
        (GUARANTEE_SCORED,),
    ),
    Mutant(
        "guarantee_ltt_methods_swapped",
        "benchmarks/guarantee_check.py reports the fixed-sequence calibration's results under Bonferroni's "
        "name and the other way round",
        (Edit("benchmarks/guarantee_check.py",
              '{"ltt fixed-sequence": ltt("fixed-sequence"), "ltt bonferroni": ltt("bonferroni")',
              '{"ltt fixed-sequence": ltt("bonferroni"), "ltt bonferroni": ltt("fixed-sequence")'),),
        (GUARANTEE + "test_each_ltt_method_tests_as_it_is_named",),
    ),
    Mutant(
        "guarantee_binary_losses_bounded",
        "benchmarks/guarantee_check.py certifies 0/1 losses with the bound for losses in [0, 1] instead of the "
        "exact binomial p-value (the calibration README reports is not the one the project runs)",
        (Edit("benchmarks/guarantee_check.py", "choose = selectors(losses, loss in BINARY_LOSSES,",
              "choose = selectors(losses, False,"),),
        (GUARANTEE + "test_zero_one_losses_are_tested_with_the_exact_binomial_p_value",),
    ),
    Mutant(
        "guarantee_upper_bound_two_sided",
        "benchmarks/guarantee_check.py's bound beside a violation rate is the two-sided 95% interval's end "
        "(97.5% one-sided) instead of the one-sided 95% upper bound",
        (Edit("benchmarks/guarantee_check.py", "stats.beta.ppf(0.95, count + 1, total - count)",
              "stats.beta.ppf(0.975, count + 1, total - count)"),),
        (GUARANTEE + "test_the_quoted_bound_is_the_one_sided_95_percent_clopper_pearson_upper_bound[0-500]",
         GUARANTEE + "test_the_bound_of_no_violation_in_500_calibrations_is_the_readmes_0_6_percent"),
    ),
    Mutant(
        "guarantee_upper_bound_is_the_lower_bound",
        "benchmarks/guarantee_check.py's bound beside a violation rate is the Clopper-Pearson lower bound's "
        "shape (Beta(count, n - count + 1)) instead of the upper bound",
        (Edit("benchmarks/guarantee_check.py", "stats.beta.ppf(0.95, count + 1, total - count)",
              "stats.beta.ppf(0.95, count, total - count + 1)"),),
        (GUARANTEE + "test_the_quoted_bound_is_the_one_sided_95_percent_clopper_pearson_upper_bound[9-500]",),
    ),
    Mutant(
        "calibration_rows_quarter_epsilon",
        "benchmarks/calibration_rows.py's 'mean loss epsilon/2' columns computed at epsilon / 4",
        (Edit("benchmarks/calibration_rows.py", "half = epsilon / 2", "half = epsilon / 4"),),
        (CALIBRATION_ROWS,),
    ),
    Mutant(
        "calibration_rows_bonferroni_binary_untested_correction",
        "benchmarks/calibration_rows.py's 0/1 Bonferroni column tests at level delta instead of delta / K",
        (Edit("benchmarks/calibration_rows.py",
              '"binary_half_bonferroni": rows_needed(epsilon, delta, half, tests=configurations)',
              '"binary_half_bonferroni": rows_needed(epsilon, delta, half)'),),
        (CALIBRATION_ROWS,),
    ),
    Mutant(
        "calibration_rows_bounded_as_binary",
        "benchmarks/calibration_rows.py's 'losses in [0, 1]' column computed with the exact binomial p-value "
        "of 0/1 losses",
        (Edit("benchmarks/calibration_rows.py", '"bounded_half": rows_needed(epsilon, delta, half, binary=False)',
              '"bounded_half": rows_needed(epsilon, delta, half)'),),
        (CALIBRATION_ROWS,),
    ),
    Mutant(
        "calibration_rows_learning_share_inverted",
        "benchmarks/calibration_rows.py's bracketed calibration rows divide by the learning share instead of "
        "the testing share (rows / 0.3 instead of rows / 0.7)",
        (Edit("benchmarks/calibration_rows.py", "math.ceil(rows / (1 - learn_fraction))",
              "math.ceil(rows / learn_fraction)"),),
        (CALIBRATION_ROWS,),
    ),
    Mutant(
        "time_splits_mean_of_passes",
        "benchmarks/measurement.py's instrumented passes report each part's mean over the passes instead of "
        "its median (one slow pass moves it)",
        (Edit("benchmarks/measurement.py", "{part: statistics.median(sample[part] for sample in runs)",
              "{part: statistics.mean(sample[part] for sample in runs)"),),
        (TIME_SPLITS,),
    ),
    Mutant(
        "time_splits_not_interleaved",
        "benchmarks/measurement.py's instrumented passes run all of one arm's passes, then the next arm's, "
        "instead of interleaving the arms",
        (Edit("benchmarks/measurement.py",
              "    for index in range(passes):\n        for name in rotated_order(list(runners), index):\n",
              "    for name in list(runners):\n        for index in range(passes):\n"),),
        (TIME_SPLITS,),
    ),
    Mutant(
        "time_splits_not_rotated",
        "benchmarks/measurement.py's instrumented passes run the arms in the same order every round (the arm "
        "after another always runs in its wake), unlike the timed runs",
        (Edit("benchmarks/measurement.py", "rotated_order(list(runners), index)", "rotated_order(list(runners), 0)"),),
        (TIME_SPLITS,),
    ),
    Mutant(
        "time_splits_other_is_the_total",
        "benchmarks/measurement.py's 'other' part is a pass's whole time instead of what the timed parts leave",
        (Edit("benchmarks/measurement.py", 'parts["other"] = total - sum(parts.values())',
              'parts["other"] = total'),),
        (TIME_SPLITS,),
    ),
    Mutant(
        "time_split_image_embedding_as_encoder_layers",
        "benchmarks/measurement.py times the image embedding as encoder layers",
        (Edit("benchmarks/measurement.py", 'self._wrap(self.model.encoder, "embed_image", "image_embedding")',
              'self._wrap(self.model.encoder, "embed_image", "encoder_layers")'),),
        (TIME_SPLITS,),
    ),
    Mutant(
        "time_split_wrappers_left_in_place",
        "benchmarks/measurement.py's instrumented pass leaves its timing wrappers on the model's methods "
        "(every later timed run pays for them)",
        (Edit("benchmarks/measurement.py", "                setattr(obj, name, previous)\n",
              "                pass\n"),),
        (TIME_SPLITS,),
    ),
    Mutant(
        "busy_note_against_every_core",
        "benchmarks/measurement.py marks a speed result provisional only once the load passes every usable "
        "core instead of half of them",
        (Edit("benchmarks/measurement.py", "load[0] <= BUSY * cores", "load[0] <= cores"),),
        (MEASUREMENT + "test_a_results_file_is_provisional_when_the_load_at_start_passes_half_the_usable_cores",),
    ),
    Mutant(
        "busy_note_on_the_fifteen_minute_load",
        "benchmarks/measurement.py judges a machine busy by its 15-minute load average instead of the load as "
        "the run starts",
        (Edit("benchmarks/measurement.py", "load[0] <= BUSY * cores", "load[2] <= BUSY * cores"),),
        (MEASUREMENT + "test_a_results_file_is_provisional_when_the_load_at_start_passes_half_the_usable_cores",),
    ),
    Mutant(
        "exit_signal_entropy_auroc_reversed",
        "benchmarks/exit_signal.py scores DeeBERT's signal with a high entropy marking a settled answer instead of a "
        "low one: every entropy AUROC it publishes is one minus the true one",
        (Edit("benchmarks/exit_signal.py", '"entropy_auroc": auroc(positive, -signals["entropy"][:, d]),',
              '"entropy_auroc": auroc(positive, signals["entropy"][:, d]),'),),
        (EXIT_SIGNAL_REPORT,),
    ),
    Mutant(
        "exit_signal_similarity_auroc_of_unsettled",
        "benchmarks/exit_signal.py's similarity AUROC ranks the unsettled examples above the settled ones (one minus "
        "the AUROC it names)",
        (Edit("benchmarks/exit_signal.py", '"similarity_auroc": auroc(positive, signals["similarity"][:, d]),',
              '"similarity_auroc": auroc(~positive, signals["similarity"][:, d]),'),),
        (EXIT_SIGNAL_REPORT,),
    ),
    Mutant(
        "exit_signal_similarity_of_the_next_layer",
        "benchmarks/exit_signal.py pairs whether an answer has settled after decoder layer d with MuE's similarity "
        "after layer d+1",
        (Edit("benchmarks/exit_signal.py", '"similarity_auroc": auroc(positive, signals["similarity"][:, d]),',
              '"similarity_auroc": auroc(positive, signals["similarity"][:, d + 1]),'),),
        (EXIT_SIGNAL_REPORT,),
    ),
    Mutant(
        "exit_signal_layers_numbered_from_zero",
        "benchmarks/exit_signal.py labels the row of decoder layer d as layer d-1 (\"after layer 2\" is layer 3's)",
        (Edit("benchmarks/exit_signal.py", '"layer": d + 1,', '"layer": d,'),),
        (EXIT_SIGNAL_REPORT,),
    ),
    Mutant(
        "exit_signal_accuracy_of_the_next_layer",
        "benchmarks/exit_signal.py's 'accuracy cut here' column gives the accuracy cut one decoder layer deeper",
        (Edit("benchmarks/exit_signal.py", '"accuracy": accuracy[d],', '"accuracy": accuracy[d + 1],'),),
        (EXIT_SIGNAL_REPORT,),
    ),
    Mutant(
        "exit_signal_settled_means_right",
        "benchmarks/exit_signal.py counts an example as settled where the answer cut at the layer is right, instead of "
        "where it and every deeper layer's are the full model's",
        (Edit("benchmarks/exit_signal.py", "    stable = settled(answers)\n",
              "    stable = answers.eq(signals[\"gold\"].unsqueeze(1))\n"),),
        (EXIT_SIGNAL_REPORT,),
    ),
    Mutant(
        "exit_signal_settled_mean_of_unsettled",
        "benchmarks/exit_signal.py reports the mean similarity of the unsettled examples as the settled ones'",
        (Edit("benchmarks/exit_signal.py",
              'float(signals["similarity"][positive, d].mean()) if positive.any()',
              'float(signals["similarity"][~positive, d].mean()) if positive.any()'),),
        (EXIT_SIGNAL_REPORT,),
    ),
    Mutant(
        "exit_signal_table_auroc_columns_swapped",
        "benchmarks/exit_signal.md puts the entropy AUROC under 'similarity AUROC' and the similarity's under "
        "'entropy AUROC'",
        (Edit("benchmarks/exit_signal.py", "f\"{cell(row['similarity_auroc'])} | {cell(row['entropy_auroc'])} | \"",
              "f\"{cell(row['entropy_auroc'])} | {cell(row['similarity_auroc'])} | \""),),
        (EXIT_SIGNAL + "test_the_table_puts_each_figure_in_its_column",),
    ),
    Mutant(
        "fixed_depth_grid_swept_on_test",
        "benchmarks/fixed_depth_chosen_on_valid.py sweeps the static grid it chooses from on the test split: the "
        "'chosen on valid' depths are the test envelope's",
        (Edit("benchmarks/fixed_depth_chosen_on_valid.py", '"--gen-subset", "valid", "--thresholds", ""',
              '"--gen-subset", "test", "--thresholds", ""'),),
        (FIXED_DEPTH_JOB,),
    ),
    Mutant(
        "fixed_depth_chosen_on_the_test_rows",
        "benchmarks/fixed_depth_chosen_on_valid.py sweeps the validation split but chooses the depths on the "
        "committed test rows (the validation sweep is read and not used)",
        (Edit("benchmarks/fixed_depth_chosen_on_valid.py",
              '    table, summary = mue_vs_static(test_rows, valid_rows, "valid", ExampleScores(task, needed))',
              '    table, summary = mue_vs_static(test_rows, test_rows, "valid", ExampleScores(task, needed))'),),
        (FIXED_DEPTH_JOB,),
    ),
    Mutant(
        "fixed_depth_reevaluation_checks_the_metric_only",
        "benchmarks/fixed_depth_chosen_on_valid.py accepts a row evaluated again on test whose metric equals the "
        "committed sweep's but whose expected time reduction does not (another exit configuration)",
        (Edit("benchmarks/fixed_depth_chosen_on_valid.py",
              '    if found != (row["metric"], row["expected_time_reduction"]):',
              '    if found[0] != row["metric"]:'),),
        (FIXED_DEPTH + "test_a_row_that_evaluates_differently_now_stops_the_benchmark[expected_reduction]",),
    ),
    Mutant(
        "held_out_interval_against_the_envelope",
        "the 95% interval of MuE minus static truncation chosen on valid pairs MuE with the test envelope's depths "
        "instead of the chosen ones",
        (Edit("ofa_mue/paper_tables.py",
              "interval = _interval(mue, scores_of(choice.left), scores_of(choice.right), choice.share)",
              "interval = _interval(mue, scores_of(left), scores_of(right), envelope.share)"),),
        (FIXED_DEPTH_JOB,),
    ),
    Mutant(
        "fixed_depth_table_envelope_count_for_valid",
        "benchmarks/fixed_depth_chosen_on_valid.md's summary gives the levels at or above the test envelope under "
        "'at/above the valid choice'",
        (Edit("benchmarks/fixed_depth_chosen_on_valid.py",
              "f\"{oracle['significantly_above']} / {oracle['significantly_below']} | {chosen['at_or_above']} | \"",
              "f\"{oracle['significantly_above']} / {oracle['significantly_below']} | {oracle['at_or_above']} | \""),),
        (FIXED_DEPTH_TABLES,),
    ),
    Mutant(
        "fixed_depth_table_requested_reduction",
        "benchmarks/fixed_depth_chosen_on_valid.md shows MuE's reduction as the valid choice's, not the reduction "
        "the chosen depths reach on test",
        (Edit("benchmarks/fixed_depth_chosen_on_valid.py", "{share(e['static_chosen_reduction'])}",
              "{share(e['expected_time_reduction'])}"),),
        (FIXED_DEPTH_TABLES,),
    ),
    Mutant(
        "adaptivity_benchmark_checks_the_metric_only",
        "benchmarks/adaptivity_bound.py accepts a setting evaluated again whose metric equals the committed sweep's "
        "but whose expected time reduction does not",
        (Edit("benchmarks/adaptivity_bound.py", '        found = (row["metric"], row["expected_time_reduction"])\n',
              '        found = (row["metric"], want and want["expected_time_reduction"])\n'),),
        (ADAPTIVITY + "test_the_benchmark_stops_unless_every_setting_reproduces_the_committed_sweep"
                      "[expected_time_reduction]",),
    ),
    Mutant(
        "adaptivity_benchmark_missing_settings_unchecked",
        "benchmarks/adaptivity_bound.py computes the oracle and the envelope from whatever settings were evaluated "
        "again, also when some of the committed sweep's static depths are missing",
        (Edit("benchmarks/adaptivity_bound.py", "    if missing:\n", "    if False:\n"),),
        (ADAPTIVITY + "test_the_benchmark_stops_unless_every_setting_reproduces_the_committed_sweep[missing]",),
    ),
    Mutant(
        "adaptivity_benchmark_kept_shares_swapped",
        "benchmarks/adaptivity_bound.md gives the largest reduction keeping 99% of the full model's quality as the "
        "one keeping 100%, and the other way round",
        (Edit("benchmarks/adaptivity_bound.py",
              'cells = [f"{share(kept[1.0][name])} ({share(kept[0.99][name])})"',
              'cells = [f"{share(kept[0.99][name])} ({share(kept[1.0][name])})"'),),
        (ADAPTIVITY_SUMMARY_ROW,),
    ),
    Mutant(
        "adaptivity_benchmark_mean_with_the_calibrated_point",
        "benchmarks/adaptivity_bound.md's mean differences over MuE's levels also average in the calibrated "
        "operating point, which is not a level",
        (Edit("benchmarks/adaptivity_bound.py",
              'levels = r["summary"]["largest_reduction_keeping"], [e for e in r["levels"] if e["level"]]',
              'levels = r["summary"]["largest_reduction_keeping"], list(r["levels"])'),),
        (ADAPTIVITY_SUMMARY_ROW,),
    ),
    Mutant(
        "adaptivity_mue_levels_uncapped",
        "the adaptivity bound compares MuE's uncapped quality (lucky answers where the full model is wrong "
        "credited) with the capped envelope and oracle",
        (Edit("ofa_mue/adaptivity_bound.py",
              "    capped = {_key(row): np.minimum(example_scores[_key(row)], full_scores)\n",
              "    capped = {_key(row): example_scores[_key(row)] if row[\"curve\"] != \"static\" "
              "else np.minimum(example_scores[_key(row)], full_scores)\n"),),
        (ADAPTIVITY_BOUND_LEVELS,),
    ),
    Mutant(
        "adaptivity_static_envelope_uncapped",
        "the adaptivity bound's static envelope is built from uncapped static qualities (lucky shallow depths "
        "credited) while MuE and the oracle are capped",
        (Edit("ofa_mue/adaptivity_bound.py",
              "    capped = {_key(row): np.minimum(example_scores[_key(row)], full_scores)\n",
              "    capped = {_key(row): example_scores[_key(row)] if row[\"curve\"] == \"static\" "
              "else np.minimum(example_scores[_key(row)], full_scores)\n"),),
        (ADAPTIVITY_BOUND_LEVELS,),
    ),
    Mutant(
        "adaptivity_oracle_and_envelope_swapped",
        "at each of MuE's levels the adaptivity bound reports the oracle's quality as static truncation's envelope "
        "and the envelope's as the oracle's",
        (Edit("ofa_mue/adaptivity_bound.py",
              'static, oracle = envelope_at(hulls["static_envelope"], x), envelope_at(hulls["oracle"], x)',
              'oracle, static = envelope_at(hulls["static_envelope"], x), envelope_at(hulls["oracle"], x)'),),
        (ADAPTIVITY_BOUND_LEVELS,),
    ),
    Mutant(
        "adaptivity_calibrated_point_as_a_level",
        "the adaptivity bound marks the calibrated operating point (mue_given) as one of MuE's levels",
        (Edit("ofa_mue/adaptivity_bound.py", '"level": row["curve"] == "mue", "expected_time_reduction": x,',
              '"level": True, "expected_time_reduction": x,'),),
        (ADAPTIVITY_BOUND_LEVELS,),
    ),
    Mutant(
        "adaptivity_kept_quality_not_a_share",
        "the largest reduction 'keeping 100% (99%) of the full model's quality' keeps a quality of 1.0 (0.99) "
        "instead of that share of the full model's",
        (Edit("ofa_mue/adaptivity_bound.py",
              "share: {name: largest_reduction_keeping(hull, share * full) for name, hull in hulls.items()}",
              "share: {name: largest_reduction_keeping(hull, share) for name, hull in hulls.items()}"),),
        (ADAPTIVITY_BOUND_LEVELS,),
    ),
    Mutant(
        "adaptivity_stable_oracle_full_model_shallowest",
        "the stable oracle compares depths with a part run in full counted as depth 0 (shallower than any cut), "
        "so the full model binds no depth and cut depths count as 'deeper' than it",
        (Edit("ofa_mue/adaptivity_bound.py",
              "    depths = np.array([static_depths(row, UNTRUNCATED, UNTRUNCATED) for row in ordered], dtype=float)",
              "    depths = np.array([static_depths(row, 0, 0) for row in ordered], dtype=float)"),),
        (ADAPTIVITY_BOUND_LEVELS,),
    ),
    Mutant(
        "adaptivity_mue_hull_without_the_full_model",
        "MuE's hull in the adaptivity bound leaves out the full model at no reduction, so where no threshold saves "
        "nothing MuE 'keeps' 100% (99%) of the full model's quality at no reduction at all",
        (Edit("ofa_mue/adaptivity_bound.py",
              '        "mue": upper_hull([(0.0, full), *((row["expected_time_reduction"]',
              '        "mue": upper_hull([*((row["expected_time_reduction"]'),),
        (ADAPTIVITY + "test_the_full_model_is_mues_point_at_no_reduction_also_without_a_threshold_that_saves_nothing",),
    ),
    Mutant(
        "lossless_reduction_ratio_inverted",
        "benchmarks/lossless.py's measured reduction is 1 - t_full / t_verify instead of 1 - t_verify / t_full",
        (Edit("benchmarks/lossless.py", 'ratio = ratio_stats(times[name], times["full"])',
              'ratio = ratio_stats(times["full"], times[name])'),),
        (LOSSLESS_REDUCTION, LOSSLESS_MARKDOWN),
    ),
    Mutant(
        "lossless_reduction_quartiles_not_flipped",
        "benchmarks/lossless.py's measured reduction takes its lower quartile from the time ratio's lower "
        "quartile: the interval is upside down",
        (Edit("benchmarks/lossless.py", '"measured_reduction_q1_q3": [1.0 - ratio["q3"], 1.0 - ratio["q1"]],',
              '"measured_reduction_q1_q3": [1.0 - ratio["q1"], 1.0 - ratio["q3"]],'),),
        (LOSSLESS_REDUCTION, LOSSLESS_MARKDOWN),
    ),
    Mutant(
        "lossless_cpu_times_include_warmup",
        "benchmarks/lossless.py's processor-time reduction pairs the warm-up rounds' seconds with the timed ones",
        (Edit("benchmarks/lossless.py", "cpu_times = {name: timed.seconds[args.warmup:] for",
              "cpu_times = {name: timed.seconds for"),),
        (LOSSLESS_REDUCTION, LOSSLESS_MARKDOWN),
    ),
    Mutant(
        "lossless_warmup_dropped",
        "benchmarks/lossless.py times its configurations without the warm-up rounds --warmup asks for",
        (Edit("benchmarks/lossless.py", "times = interleaved_times(cpu, args.repetitions, args.warmup,",
              "times = interleaved_times(cpu, args.repetitions, 0,"),),
        (LOSSLESS_REDUCTION, LOSSLESS_SPLIT, LOSSLESS_MARKDOWN),
    ),
    Mutant(
        "lossless_draft_and_verification_calls_swapped",
        "benchmarks/lossless.py's time split counts verification passes as draft calls and draft calls as "
        "verification passes",
        (Edit("benchmarks/lossless.py",
              'return "verify_calls" if rounds.session.decoder_rule is None else "draft_calls"',
              'return "verify_calls" if rounds.session.decoder_rule is not None else "draft_calls"'),),
        (LOSSLESS_SPLIT, LOSSLESS_MARKDOWN),
    ),
    Mutant(
        "lossless_per_call_cost_of_all_calls",
        "benchmarks/lossless.py's per-call milliseconds are each part's total: a draft call and a verification "
        "pass are costed by all of them against all the full model's steps",
        (Edit("benchmarks/lossless.py", '"per_call_ms": {name: 1000 * record.seconds[name] / count for',
              '"per_call_ms": {name: 1000 * record.seconds[name] for'),),
        (LOSSLESS_SPLIT, LOSSLESS_MARKDOWN),
    ),
    Mutant(
        "lossless_decoder_side_against_the_whole_full_model",
        "benchmarks/lossless.py's decoder side divides by the full model's whole time, encoder included",
        (Edit("benchmarks/lossless.py", 'full_decoder_s = full["seconds"]["total"] - full["seconds"]["encoder"]',
              'full_decoder_s = full["seconds"]["total"]'),),
        (LOSSLESS_SPLIT, LOSSLESS_MARKDOWN),
    ),
    Mutant(
        "lossless_round_decoder_calls_counted_as_full_steps",
        "benchmarks/lossless.py's time split also counts the decoder calls of draft and verification calls as "
        "full-model steps (their seconds twice)",
        (Edit("benchmarks/lossless.py", 'lambda *_: None if inside_rounds else "full_steps"',
              'lambda *_: "full_steps"'),),
        (LOSSLESS_SPLIT,),
    ),
    Mutant(
        "lossless_nested_operators_counted",
        "benchmarks/lossless.py counts the operators that operators call, not only the ones the model launched",
        (Edit("benchmarks/lossless.py",
              'if not event.name.startswith("aten::") or (parent is not None and parent.name.startswith("aten::")):',
              'if not event.name.startswith("aten::"):'),),
        (LOSSLESS_SPLIT,),
    ),
    Mutant(
        "lossless_identical_outputs_always_yes",
        "benchmarks/lossless.py compares each configuration's captions with its own: 'identical outputs' is "
        "yes whatever the lossless mode produced",
        (Edit("benchmarks/lossless.py", '"identical_outputs": runner.predictions == runners["full"].predictions,',
              '"identical_outputs": runner.predictions == runner.predictions,'),),
        (LOSSLESS_REDUCTION, LOSSLESS_MARKDOWN),
    ),
    Mutant(
        "lossless_encoder_share_of_the_decoder_side",
        "benchmarks/lossless.py's encoder share divides the encoder's seconds by the full model's decoder side",
        (Edit("benchmarks/lossless.py",
              '"encoder_share_of_full": full["seconds"]["encoder"] / full["seconds"]["total"],',
              '"encoder_share_of_full": full["seconds"]["encoder"] / full_decoder_s,'),),
        (LOSSLESS_SPLIT, LOSSLESS_MARKDOWN),
    ),
    Mutant(
        "lossless_markdown_wall_and_cpu_columns_swapped",
        "benchmarks/lossless.py's table prints the processor-time reduction under wall clock and the other way",
        (Edit("benchmarks/lossless.py",
              "f\"{_spread(row, 'measured_reduction')} | {_spread(row, 'cpu_time_reduction')} | \"",
              "f\"{_spread(row, 'cpu_time_reduction')} | {_spread(row, 'measured_reduction')} | \""),),
        (LOSSLESS_MARKDOWN,),
    ),
    Mutant(
        "lossless_verifications_per_full_step_counts_drafts",
        "benchmarks/lossless.py's verifications per full step counts draft calls",
        (Edit("benchmarks/lossless.py",
              '"verifications_per_full_step": split["calls"]["verify_calls"] / full["calls"]["full_steps"],',
              '"verifications_per_full_step": split["calls"]["draft_calls"] / full["calls"]["full_steps"],'),),
        (LOSSLESS_SPLIT, LOSSLESS_MARKDOWN),
    ),
    Mutant(
        "lossless_other_not_net_of_the_parts",
        "benchmarks/lossless.py's time split gives 'other' the whole pass's seconds",
        (Edit("benchmarks/lossless.py", 'parts["other"] = total - sum(parts.values())', 'parts["other"] = total'),),
        (LOSSLESS_SPLIT,),
    ),
    Mutant(
        "depth_fit_intercept_ignores_the_slope",
        "benchmarks/depth_speed.py's fixed share (what no exit removes) is the mean measured share",
        (Edit("benchmarks/depth_speed.py", "fixed = mean_y - slope * mean_x", "fixed = mean_y"),),
        (DEPTHS_FIT,),
    ),
    Mutant(
        "depth_fit_r2_over_the_spread_of_x",
        "benchmarks/depth_speed.py's R^2 divides the residual by the spread of the expected shares",
        (Edit("benchmarks/depth_speed.py", '"r2": 1.0 - residual / total if total else 1.0',
              '"r2": 1.0 - residual / sxx if total else 1.0'),),
        (DEPTHS_FIT,),
    ),
    Mutant(
        "depth_fit_over_every_arm",
        "benchmarks/depth_speed.py fits time against layer count over the full model and the never-firing arm "
        "too, not only the fixed depths",
        (Edit("benchmarks/depth_speed.py", 'static = [r for r in rows if r["config"] not in ("off", "never")]',
              "static = rows"),),
        (DEPTHS_RUN,),
    ),
    Mutant(
        "depth_fit_axes_swapped",
        "benchmarks/depth_speed.py fits the expected share on the measured one",
        (Edit("benchmarks/depth_speed.py",
              'fit = linear_fit([r["expected_share"] for r in static], [r["measured_share"]["median"]',
              'fit = linear_fit([r["measured_share"]["median"] for r in static], [r["expected_share"]'),),
        (DEPTHS_RUN,),
    ),
    Mutant(
        "depth_overhead_of_the_full_depth_static_arm",
        "benchmarks/depth_speed.py's exit-test overhead is the full-depth fixed arm's, not the never-firing arm's",
        (Edit("benchmarks/depth_speed.py", '"overhead": rows[1]["measured_share"]["median"] - 1.0',
              '"overhead": rows[2]["measured_share"]["median"] - 1.0'),),
        (DEPTHS_RUN,),
    ),
    Mutant(
        "depth_shares_against_the_never_arm",
        "benchmarks/depth_speed.py measures every share against the never-firing arm instead of the full model",
        (Edit("benchmarks/depth_speed.py", '"measured_share": ratio_stats(times[name], times["off"])',
              '"measured_share": ratio_stats(times[name], times["never"])'),),
        (DEPTHS_RUN,),
    ),
    Mutant(
        "depth_warmup_dropped",
        "benchmarks/depth_speed.py times its arms without the warm-up rounds --warmup asks for",
        (Edit("benchmarks/depth_speed.py", "times = interleaved_times(runners, args.repetitions, args.warmup,",
              "times = interleaved_times(runners, args.repetitions, 0,"),),
        (DEPTHS_RUN,),
    ),
    Mutant(
        "depths_markdown_fixed_and_slope_swapped",
        "benchmarks/depth_speed.py's fit table prints the slope under 'fixed' and the fixed share under 'slope'",
        (Edit("benchmarks/depth_speed.py", "{f['fixed']:.2f} | {f['slope']:.2f}",
              "{f['slope']:.2f} | {f['fixed']:.2f}"),),
        (DEPTHS_RUN,),
    ),
    Mutant(
        "depth_fractions_round_down",
        "benchmarks/depth_speed.py rounds a fraction of the encoder's layers down (3/4 of 6 layers: 4)",
        (Edit("benchmarks/depth_speed.py", "enc = max(1, math.ceil(fraction * encoder_layers))",
              "enc = max(1, int(fraction * encoder_layers))"),),
        (DEPTH_SETTINGS,),
    ),
    Mutant(
        "depth_decoder_fraction_of_the_encoder",
        "benchmarks/depth_speed.py cuts the decoder to a fraction of the encoder's layer count",
        (Edit("benchmarks/depth_speed.py", "dec = max(1, math.ceil(fraction * decoder_layers))",
              "dec = max(1, math.ceil(fraction * encoder_layers))"),),
        (DEPTH_SETTINGS,),
    ),
    Mutant(
        "caption_replay_one_decoder_call_too_many",
        "benchmarks/runners.py's replays decode one decoder call more per batch than recorded",
        (Edit("benchmarks/runners.py", '"max_len_a": 0, "max_len_b": n - 1, "min_len": n - 1}',
              '"max_len_a": 0, "max_len_b": n, "min_len": n}'),),
        (CAPTION_REPLAY_RUNNER,),
    ),
    Mutant(
        "full_arm_layers_from_a_pass_without_a_session",
        "benchmarks/runners.py takes the full model's layer counts from a pass without an exit session, which "
        "records none",
        (Edit("benchmarks/runners.py", "_, self._layers = self.run(EXITS_OFF)",
              "_, self._layers = self.run(self.policy)"),),
        (CAPTION_REPLAY_RUNNER,),
    ),
    Mutant(
        "never_firing_decoder_theta_one",
        "benchmarks/exit_arms.py's never-firing decoder threshold is 1, which the decay takes below 1",
        (Edit("benchmarks/exit_arms.py", "TokenSimilarityExit(1.0 / beta, beta,", "TokenSimilarityExit(1.0, beta,"),),
        (NEVER_FIRING,),
    ),
    Mutant(
        "replayed_stream_exit_one_layer_late",
        "benchmarks/exit_arms.py's replayed encoder exits stop each sample one layer after the recorded one",
        (Edit("benchmarks/exit_arms.py", "stop = self.layers[self.running] <= layer + 1",
              "stop = self.layers[self.running] < layer + 1"),),
        (REPLAY_IMPOSES,),
    ),
    Mutant(
        "replayed_token_exit_one_layer_late",
        "benchmarks/exit_arms.py's replayed decoder exits stop each token one layer after the recorded one",
        (Edit("benchmarks/exit_arms.py", "return self.flat_layers[tokens] <= layer + 1",
              "return self.flat_layers[tokens] < layer + 1"),),
        (REPLAY_IMPOSES, LOSSLESS_REPLAY + "[mue]"),
    ),
    Mutant(
        "replayed_token_exit_replays_the_first_call",
        "benchmarks/exit_arms.py replays every decoder call with the first recorded call's exits",
        (Edit("benchmarks/exit_arms.py", "recorded = self.calls[min(self.call, len(self.calls) - 1)]",
              "recorded = self.calls[0]"),),
        (LOSSLESS_REPLAY + "[mue]",),
    ),
    Mutant(
        "replay_policy_first_batch_only",
        "benchmarks/exit_arms.py replays the first recorded batch's exits on every batch",
        (Edit("benchmarks/exit_arms.py", "exits = self.batches[self.served % len(self.batches)]",
              "exits = self.batches[0]"),),
        (REPLAY_TURNS,),
    ),
    Mutant(
        "replay_policy_no_cycling",
        "benchmarks/exit_arms.py replays the last recorded batch's exits on every batch after it (a second pass "
        "over the batches, e.g. the next timed repetition, gets the wrong exits)",
        (Edit("benchmarks/exit_arms.py", "exits = self.batches[self.served % len(self.batches)]",
              "exits = self.batches[min(self.served, len(self.batches) - 1)]"),),
        (REPLAY_TURNS,),
    ),
    Mutant(
        "replayed_stream_exit_without_mues_test",
        "benchmarks/exit_arms.py's replayed encoder exits skip MuE's similarity test (its cost left out)",
        (Edit("benchmarks/exit_arms.py", "encoder = {name: ReplayedStreamExit(layers, tests.encoder_rules.get(name))",
              "encoder = {name: ReplayedStreamExit(layers, None)"),),
        (REPLAY_TURNS,),
    ),
    Mutant(
        "replayed_token_exit_without_mues_test",
        "benchmarks/exit_arms.py's replayed decoder exits skip MuE's similarity test (its cost left out)",
        (Edit("benchmarks/exit_arms.py", "decoder = ReplayedTokenExit(exits.calls, tests.decoder_rule) if",
              "decoder = ReplayedTokenExit(exits.calls, None) if"),),
        (REPLAY_TURNS,),
    ),
    Mutant(
        "lossless_replay_records_verification_exits",
        "benchmarks/lossless_replay.py records the verification passes' exit layers with the draft calls'",
        (Edit("benchmarks/lossless_replay.py", "if call.tested]", "]"),),
        (LOSSLESS_REPLAY + "[mue]",),
    ),
    Mutant(
        "lossless_replay_verification_keeps_the_models_choice",
        "benchmarks/lossless_replay.py's verification keeps the replaying model's own choices",
        (Edit("benchmarks/lossless_replay.py", "tokens = torch.where(forced.ge(0), forced, tokens)", "pass"),),
        (LOSSLESS_REPLAY + "[mue]", LOSSLESS_REPLAY + "[static]"),
    ),
    Mutant(
        "lossless_replay_rounds_never_advance",
        "benchmarks/lossless_replay.py replays the first round's drafts in every round",
        (Edit("benchmarks/lossless_replay.py", "        self.rounds_done[self.sample] += 1\n", ""),),
        (LOSSLESS_REPLAY + "[mue]", LOSSLESS_REPLAY + "[static]"),
    ),
    Mutant(
        "lossless_replay_prefix_drops_end_of_sentence",
        "benchmarks/lossless_replay.py's full arm is forced through the captions without their end of sentence",
        (Edit("benchmarks/lossless_replay.py", "prefix[row, :len(caption)] = torch.tensor(caption)",
              "prefix[row, :len(caption) - 1] = torch.tensor(caption[:-1])"),),
        (LOSSLESS_REPLAY_PREFIXES,),
    ),
    Mutant(
        "lossless_replay_any_batch_accepted",
        "benchmarks/lossless_replay.py replays a batch the recording does not hold",
        (Edit("benchmarks/lossless_replay.py", "if ids not in self.draft_exits:", "if False:"),),
        (LOSSLESS_REPLAY_REFUSED,),
    ),
    Mutant(
        "question_updates_valid_scored_on_test",
        "benchmarks/question_updates.py scores its valid column on the test split, so the split where a user "
        "would choose repeats the test figure",
        (Edit("benchmarks/question_updates.py", '"valid": ("valid", []),', '"valid": ("test", []),'),),
        (RECIPES + "test_question_updates_scores_valid_on_the_valid_split_and_every_other_column_on_test",),
    ),
    Mutant(
        "question_updates_other_images_are_blank",
        "benchmarks/question_updates.py's other-images column replaces the test images with blank ones",
        (Edit("benchmarks/question_updates.py", '["--replace-images", "other"]', '["--replace-images", "blank"]'),),
        (RECIPES + "test_question_updates_scores_valid_on_the_valid_split_and_every_other_column_on_test",),
    ),
    Mutant(
        "question_updates_families_labels_only",
        "benchmarks/question_updates.py reports the test accuracy per label only, not per hypothesis family",
        (Edit("benchmarks/question_updates.py", 'FAMILY_GROUPS = ("family", "label")', 'FAMILY_GROUPS = ("label",)'),),
        (RECIPES + "test_question_updates_families_are_read_off_the_test_predictions_per_family_and_label",),
    ),
    Mutant(
        "question_updates_families_from_one_layer",
        "benchmarks/question_updates.py reads the per-family accuracies off the one-layer model's predictions",
        (Edit("benchmarks/question_updates.py", 'os.path.join(out, "test", "test_predictions.jsonl")',
              'os.path.join(out, "one_layer", "test_predictions.jsonl")'),),
        (RECIPES + "test_question_updates_families_are_read_off_the_test_predictions_per_family_and_label",),
    ),
    Mutant(
        "question_updates_snli_seed_not_passed",
        "benchmarks/question_updates.py fine-tunes every seed's SNLI-VE with seed 1",
        (Edit("benchmarks/question_updates.py", 'CRITERIA["layerwise"], decompose=True, constant_lr=False, seed=seed)',
              'CRITERIA["layerwise"], decompose=True, constant_lr=False)'),),
        (QUESTION_UPDATES_ARM,),
    ),
    Mutant(
        "question_updates_stage_seed_not_passed",
        "benchmarks/question_updates.py trains every seed's question stage with seed 1",
        (Edit("benchmarks/question_updates.py", '"--seed", str(seed),', '"--seed", "1",'),),
        (QUESTION_UPDATES_ARM,),
    ),
    Mutant(
        "question_updates_snli_from_caption_model",
        "benchmarks/question_updates.py fine-tunes SNLI-VE from the caption model, skipping the longer question "
        "stage it measures",
        (Edit("benchmarks/question_updates.py", 'os.path.join(args.data, "bpe"), questions, os.path.join(work, "snli_ve")',
              'os.path.join(args.data, "bpe"), init, os.path.join(work, "snli_ve")'),),
        (QUESTION_UPDATES_ARM,),
    ),
    Mutant(
        "question_updates_demo_questions_are_this_stages",
        "benchmarks/question_updates.py reads demo.sh's question-stage accuracies from its own stage, so the "
        "before -> after table shows no change",
        (Edit("benchmarks/question_updates.py", 'held_out_questions(os.path.join(seed_checkpoints, "questions.json"))',
              'held_out_questions(os.path.join(work, "questions.json"))'),),
        (QUESTION_UPDATES_ARM,),
    ),
    Mutant(
        "question_updates_demo_model_is_this_arms",
        "benchmarks/question_updates.py scores its own SNLI-VE model in demo.sh's rows",
        (Edit("benchmarks/question_updates.py", 'os.path.join(seed_checkpoints, "snli_ve", "checkpoint_last.pt")),',
              'snli),'),),
        (QUESTION_UPDATES_ARM,),
    ),
    Mutant(
        "question_updates_table_rows_swapped",
        "benchmarks/question_updates.py's table labels its own model's row demo.sh's and the other way round",
        (Edit("benchmarks/question_updates.py",
              """(("demo.sh's", "demo_snli_ve"), (f"{a['question_updates']} updates", "snli_ve"))""",
              """(("demo.sh's", "snli_ve"), (f"{a['question_updates']} updates", "demo_snli_ve"))"""),),
        (RECIPE_TABLES + "[question_updates]", RECIPE_TABLES + "[question_and_snli_updates]"),
    ),
    Mutant(
        "question_updates_gap_sign",
        "benchmarks/question_updates.py's one-layer gap is one layer minus the full model",
        (Edit("benchmarks/question_updates.py", 'gap = r["test"]["accuracy"] - r["one_layer"]["accuracy"]',
              'gap = r["one_layer"]["accuracy"] - r["test"]["accuracy"]'),),
        (RECIPE_TABLES + "[question_updates]",),
    ),
    Mutant(
        "question_updates_image_columns_swapped",
        "benchmarks/question_updates.py's table puts blank-image accuracy under other images and the other way round",
        (Edit("benchmarks/question_updates.py",
              "{_percent(r['other_images']['accuracy'])} | {_percent(r['blank_images']['accuracy'])}",
              "{_percent(r['blank_images']['accuracy'])} | {_percent(r['other_images']['accuracy'])}"),),
        (RECIPE_TABLES + "[question_updates]",),
    ),
    Mutant(
        "question_updates_families_before_after_swapped",
        "benchmarks/question_updates.py's per-family table shows this stage's accuracies as demo.sh's and the other "
        "way round",
        (Edit("benchmarks/question_updates.py",
              'lambda arm: arm["demo_snli_ve"]["families"], lambda arm: arm["snli_ve"]["families"]',
              'lambda arm: arm["snli_ve"]["families"], lambda arm: arm["demo_snli_ve"]["families"]'),),
        (RECIPE_TABLES + "[question_updates]",),
    ),
    Mutant(
        "snli_settings_valid_scored_on_test",
        "benchmarks/snli_settings.py chooses on the test split: its valid column is scored on test",
        (Edit("benchmarks/snli_settings.py", '"valid": ("valid", []),', '"valid": ("test", []),'),),
        (RECIPES + "test_snli_settings_chooses_on_the_valid_split_and_records_test_in_full_and_with_one_layer",),
    ),
    Mutant(
        "snli_settings_arm_lr_ignored",
        "benchmarks/snli_settings.py fine-tunes every arm at demo.sh's learning rate whatever the arm names",
        (Edit("benchmarks/snli_settings.py", 'os.path.join(work, "snli_ve"), args.snli_updates, lr,',
              'os.path.join(work, "snli_ve"), args.snli_updates, 5e-4,'),),
        (SNLI_SETTINGS_ARM,),
    ),
    Mutant(
        "snli_settings_seed_not_passed",
        "benchmarks/snli_settings.py fine-tunes every seed's arms with seed 1",
        (Edit("benchmarks/snli_settings.py", "seed=seed, label_smoothing=smoothing)", "label_smoothing=smoothing)"),),
        (SNLI_SETTINGS_ARM,),
    ),
    Mutant(
        "snli_settings_from_caption_model",
        "benchmarks/snli_settings.py fine-tunes from the caption model instead of the seed's question stage",
        (Edit("benchmarks/snli_settings.py", 'os.path.join(args.checkpoints, f"seed{seed}", "questions.pt")',
              'os.path.join(args.checkpoints, f"seed{seed}", "caption", "checkpoint_last.pt")'),),
        (SNLI_SETTINGS_ARM,),
    ),
    Mutant(
        "snli_settings_every_arm_runs_the_first",
        "benchmarks/snli_settings.py runs the first arm's setting under every arm's name",
        (Edit("benchmarks/snli_settings.py", "pool.submit(run_arm, seed, *arm, args)",
              "pool.submit(run_arm, seed, *arms[0], args)"),),
        (RECIPES + "test_snli_settings_main_runs_every_arm_on_every_seed_and_files_each_result_under_its_own_arm",),
    ),
    Mutant(
        "snli_settings_results_of_the_first_seed",
        "benchmarks/snli_settings.py files the first seed's results under every seed",
        (Edit("benchmarks/snli_settings.py", '"evaluations": futures[seed, arm].result()',
              '"evaluations": futures[seeds[0], arm].result()'),),
        (RECIPES + "test_snli_settings_main_runs_every_arm_on_every_seed_and_files_each_result_under_its_own_arm",),
    ),
    Mutant(
        "snli_settings_mean_row_of_the_first_arm",
        "benchmarks/snli_settings.py's mean over the seeds averages the first arm's results in every arm's row",
        (Edit("benchmarks/snli_settings.py", 'cells = [sum(arms[index]["evaluations"]',
              'cells = [sum(arms[0]["evaluations"]'),),
        (SNLI_SETTINGS_MEAN, RECIPE_TABLES + "[snli_settings]"),
    ),
    Mutant(
        "snli_settings_mean_divides_by_arms",
        "benchmarks/snli_settings.py's mean over the seeds divides by the number of arms, not of seeds",
        (Edit("benchmarks/snli_settings.py", '/ len(report["seeds"]) for name in EVALUATIONS]',
              '/ len(next(iter(report["seeds"].values()))) for name in EVALUATIONS]'),),
        (SNLI_SETTINGS_MEAN, RECIPE_TABLES + "[snli_settings]"),
    ),
    Mutant(
        "snli_settings_gap_sign",
        "benchmarks/snli_settings.py's one-layer gap is one layer minus the full model",
        (Edit("benchmarks/snli_settings.py", 'gap = e["test"]["accuracy"] - e["one_layer"]["accuracy"]',
              'gap = e["one_layer"]["accuracy"] - e["test"]["accuracy"]'),),
        (SNLI_SETTINGS_MEAN, RECIPE_TABLES + "[snli_settings]"),
    ),
    Mutant(
        "grounding_held_out_statements_trained_on",
        "benchmarks/grounding_stage.py's held-out statements are the first of its training statements",
        (Edit("benchmarks/grounding_stage.py", "handle.writelines(lines[rows:])",
              "handle.writelines(lines[:HELD_OUT])"),),
        (RECIPES + "test_grounding_statements_held_out_are_not_trained_on",),
    ),
    Mutant(
        "grounding_train_criterion_ignored",
        "benchmarks/grounding_stage.py's train() uses the layer-wise loss whatever the arm asks for, so the plain "
        "arm trains with the layer-wise arm's loss",
        (Edit("benchmarks/grounding_stage.py", '"--criterion", criterion,', '"--criterion", CRITERIA["layerwise"],'),),
        (GROUNDING_TRAIN,),
    ),
    Mutant(
        "grounding_train_decompose_inverted",
        "benchmarks/grounding_stage.py's train() decomposes the encoder when told to fuse it and the other way round",
        (Edit("benchmarks/grounding_stage.py", '*(["--decompose-modalities"] if decompose else [])',
              '*(["--decompose-modalities"] if not decompose else [])'),),
        (GROUNDING_TRAIN,),
    ),
    Mutant(
        "grounding_train_schedule_inverted",
        "benchmarks/grounding_stage.py's train() decays the learning rate when told to hold it and the other way round",
        (Edit("benchmarks/grounding_stage.py", 'schedule = ["fixed"] if constant_lr else',
              'schedule = ["fixed"] if not constant_lr else'),),
        (GROUNDING_TRAIN,),
    ),
    Mutant(
        "grounding_train_seed_ignored",
        "benchmarks/grounding_stage.py's train() trains with seed 1 whatever the seed it is given",
        (Edit("benchmarks/grounding_stage.py", '"--seed", str(seed),', '"--seed", "1",'),),
        (GROUNDING_TRAIN,),
    ),
    Mutant(
        "grounding_arms_share_the_plain_loss",
        "benchmarks/grounding_stage.py trains both arms' grounding stage with the plain loss",
        (Edit("benchmarks/grounding_stage.py", "args.grounding_updates, args.grounding_lr, CRITERIA[loss],",
              'args.grounding_updates, args.grounding_lr, CRITERIA["plain"],'),),
        (GROUNDING_ARM,),
    ),
    Mutant(
        "grounding_snli_from_caption_model",
        "benchmarks/grounding_stage.py fine-tunes SNLI-VE from the caption model, skipping the grounding stage",
        (Edit("benchmarks/grounding_stage.py", 'os.path.join(args.data, "snli_ve"), bpe, grounded,',
              'os.path.join(args.data, "snli_ve"), bpe, args.caption_checkpoint,'),),
        (GROUNDING_ARM,),
    ),
    Mutant(
        "grounding_score_always_test",
        "benchmarks/grounding_stage.py's score() evaluates the test split whatever split it is asked for (as "
        "question_updates.py and snli_settings.py's valid column)",
        (Edit("benchmarks/grounding_stage.py", '"--gen-subset", split,', '"--gen-subset", "test",'),
         Edit("benchmarks/grounding_stage.py", 'f"{split}_metrics.json"', '"test_metrics.json"')),
        (GROUNDING_SCORE,),
    ),
    Mutant(
        "grounding_image_replacement_ignored",
        "benchmarks/grounding_stage.py scores the right images under every replacement's column",
        (Edit("benchmarks/grounding_stage.py", 'options=("--replace-images", images)',
              'options=("--replace-images", "none")'),),
        (GROUNDING_SCORE,),
    ),
    Mutant(
        "grounding_first_logged_training_accuracy",
        "benchmarks/grounding_stage.py reports the first logged training accuracy, not the last",
        (Edit("benchmarks/grounding_stage.py", "found = {k: float(v) for k, v in",
              "found = found or {k: float(v) for k, v in"),),
        (RECIPES + "test_last_training_accuracy_reads_the_last_logged_line",),
    ),
    Mutant(
        "grounding_table_columns_reversed",
        "benchmarks/grounding_stage.py's table puts the blank-image accuracy under the right images and the other "
        "way round",
        (Edit("benchmarks/grounding_stage.py", "for r in REPLACEMENTS)", "for r in reversed(REPLACEMENTS))"),),
        (RECIPE_TABLES + "[grounding_stage]",),
    ),
    Mutant(
        "linear_probe_scored_on_training_rows",
        "benchmarks/grounding_lookup.py's linear probes are scored on the 80% of the vectors they trained on",
        (Edit("benchmarks/grounding_lookup.py", "(head(features[cut:]).argmax(1) == labels[cut:])",
              "(head(features[:cut]).argmax(1) == labels[:cut])"),),
        (RECIPES + "test_linear_probe_is_scored_on_the_rows_it_was_not_trained_on",),
    ),
    Mutant(
        "grounding_lookup_first_and_last_layer_swapped",
        "benchmarks/grounding_lookup.py reports the first decoder layer's accuracy as the last's and the other way round",
        (Edit("benchmarks/grounding_lookup.py", "first, last = sorted(accuracy,", "last, first = sorted(accuracy,"),),
        (GROUNDING_LOOKUP_MAIN,),
    ),
    Mutant(
        "grounding_lookup_chance_of_the_mean_number",
        "benchmarks/grounding_lookup.py's chance among a scene's objects is one over the mean number of objects, "
        "not the mean of one over it",
        (Edit("benchmarks/grounding_lookup.py", "round(mean(1 / n for n in objects), 4)", "round(1 / mean(objects), 4)"),),
        (GROUNDING_LOOKUP_MAIN,),
    ),
    Mutant(
        "grounding_lookup_probes_the_first_setting",
        "benchmarks/grounding_lookup.py's trained probes read the first setting's model, not the last's",
        (Edit("benchmarks/grounding_lookup.py", 'probes(settings[-1]["checkpoint"]', 'probes(settings[0]["checkpoint"]'),),
        (GROUNDING_LOOKUP_MAIN,),
    ),
    Mutant(
        "grounding_lookup_seed_not_passed",
        "benchmarks/grounding_lookup.py trains every setting with seed 1 whatever --seed says",
        (Edit("benchmarks/grounding_lookup.py", "updates=args.updates, seed=args.seed,", "updates=args.updates, seed=1,"),),
        (GROUNDING_LOOKUP_MAIN,),
    ),
    Mutant(
        "grounding_lookup_table_layers_swapped",
        "benchmarks/grounding_lookup.py's table puts the first decoder layer's accuracy under the last's",
        (Edit("benchmarks/grounding_lookup.py",
              "{row['accuracy_last_layer']:.3f} | {row['accuracy_first_layer']:.3f}",
              "{row['accuracy_first_layer']:.3f} | {row['accuracy_last_layer']:.3f}"),),
        (RECIPE_TABLES + "[grounding_lookup_focus]", RECIPE_TABLES + "[grounding_lookup_focus_amd]"),
    ),
    Mutant(
        "ofa_parity_encoder_ours_against_ours",
        "benchmarks/ofa_parity.py compares ofa_mue's encoder output with itself, so the encoder column is 0",
        (Edit("benchmarks/ofa_parity.py", '(reference_encoder["encoder_out"][0].transpose(0, 1) - our_encoder',
              '(our_encoder["encoder_out"][0] - our_encoder'),),
        (PARITY_FIGURES,),
    ),
    Mutant(
        "ofa_parity_logits_mean_difference",
        "benchmarks/ofa_parity.py reports the mean absolute logit difference as the largest",
        (Edit("benchmarks/ofa_parity.py", '"logits_max_abs_diff": float((reference_logits - our_logits).abs().max()),',
              '"logits_max_abs_diff": float((reference_logits - our_logits).abs().mean()),'),),
        (PARITY_FIGURES,),
    ),
    Mutant(
        "ofa_parity_steps_against_teacher_forced",
        "benchmarks/ofa_parity.py compares our step-by-step logits with the reference's teacher-forced ones",
        (Edit("benchmarks/ofa_parity.py", "float((reference_steps - our_steps).abs().max())",
              "float((reference_logits - our_steps).abs().max())"),),
        (PARITY_FIGURES,),
    ),
    Mutant(
        "ofa_parity_steps_without_cache",
        "benchmarks/ofa_parity.py's step-by-step decoding recomputes each prefix without the cache, so the "
        "incremental path it reports on is never run",
        (Edit("benchmarks/ofa_parity.py", "encoder_out=encoder_out, incremental_state=state)[0]",
              "encoder_out=encoder_out)[0][:, -1:]"),),
        (PARITY_SUITE + "test_step_by_step_decodes_one_position_per_call_with_the_cache",),
    ),
    Mutant(
        "ofa_parity_softmax_still_float32",
        "benchmarks/ofa_parity.py's float64-softmax row still computes fairseq's softmax in float32",
        (Edit("benchmarks/ofa_parity.py", "F.softmax(x, dim=dim)", "F.softmax(x.float(), dim=dim)"),),
        (PARITY_SUITE + "test_precise_softmax_and_gelu_compute_in_the_inputs_precision_and_are_restored",),
    ),
    Mutant(
        "ofa_parity_softmax_row_in_float32",
        "benchmarks/ofa_parity.py runs its float64-softmax row in float32",
        (Edit("benchmarks/ofa_parity.py", 'dtype = torch.float32 if precision == "float32" else torch.float64',
              'dtype = torch.float64 if precision == "float64" else torch.float32'),),
        (PARITY_ROWS,),
    ),
    Mutant(
        "ofa_parity_float64_row_with_precise_softmax",
        "benchmarks/ofa_parity.py patches fairseq's softmax and gelu on the plain float64 row too, so that row "
        "no longer shows what they cost",
        (Edit("benchmarks/ofa_parity.py", 'if "softmax" in precision else', 'if "float64" in precision else'),),
        (PARITY_ROWS,),
    ),
    Mutant(
        "ofa_parity_ours_keeps_its_own_weights",
        "benchmarks/ofa_parity.py compares OFA's randomized model with ofa_mue's freshly initialised one",
        (Edit("benchmarks/ofa_parity.py", "ours.load_state_dict(state)", "pass"),),
        (PARITY_ROWS,),
    ),
    Mutant(
        "ofa_parity_images_stay_float32",
        "benchmarks/ofa_parity.py feeds float32 images to the float64 models",
        (Edit("benchmarks/ofa_parity.py", "generator=generator).to(dtype)", "generator=generator)"),),
        (PARITY_ROWS,),
    ),
    Mutant(
        "ofa_parity_table_columns_swapped",
        "benchmarks/ofa_parity.py's table shows the step-by-step difference as the teacher-forced one and the "
        "other way round",
        (Edit("benchmarks/ofa_parity.py",
              "{r['logits_max_abs_diff']:.1e} | {r['step_by_step_logits_max_abs_diff']:.1e}",
              "{r['step_by_step_logits_max_abs_diff']:.1e} | {r['logits_max_abs_diff']:.1e}"),),
        (PARITY_SUITE + "test_parity_table_is_rendered_from_the_recorded_rows",),
    ),
    Mutant(
        "hf_port_padding_counted",
        "benchmarks/hf_port.py's encoder difference counts the padded positions, whose outputs mean nothing",
        (Edit("benchmarks/hf_port.py", '(a["encoder"][keep] - b["encoder"][keep])', '(a["encoder"] - b["encoder"])'),),
        (HF_DIFFERENCE,),
    ),
    Mutant(
        "hf_port_logits_against_themselves",
        "benchmarks/hf_port.py compares the port's logits with themselves, so the logits column is 0",
        (Edit("benchmarks/hf_port.py", '(a["logits"] - b["logits"])', '(a["logits"] - a["logits"])'),),
        (HF_DIFFERENCE,),
    ),
    Mutant(
        "hf_port_encoder_mean_difference",
        "benchmarks/hf_port.py reports the mean absolute encoder difference as the largest",
        (Edit("benchmarks/hf_port.py", '(a["encoder"][keep] - b["encoder"][keep]).abs().max()',
              '(a["encoder"][keep] - b["encoder"][keep]).abs().mean()'),),
        (HF_DIFFERENCE,),
    ),
    Mutant(
        "hf_port_padding_masks_unchecked",
        "benchmarks/hf_port.py compares outputs whose padding masks differ",
        (Edit("benchmarks/hf_port.py", 'assert torch.equal(a["padding"], b["padding"]), "padding masks differ"',
              "pass"),),
        (HF_DIFFERENCE,),
    ),
    Mutant(
        "hf_port_running_var_not_drawn",
        "benchmarks/hf_port.py leaves BatchNorm running variances at 1, so the conversion check never sees them moved",
        (Edit("benchmarks/hf_port.py", 'if name.endswith("running_var"):', 'if name.endswith("running_variance"):'),),
        (PARITY_SUITE + "test_hf_port_randomizes_every_parameter_and_batchnorm_statistic",),
    ),
    Mutant(
        "suite_cpu_children_not_counted",
        "benchmarks/suite_cpu.py's CPU seconds leave out the child processes (fairseq-train and the like)",
        (Edit("benchmarks/suite_cpu.py", "round(own_end - own + children_end - children, 3)",
              "round(own_end - own, 3)"),),
        (PARITY_SUITE + "test_measured_counts_this_processes_cpu_and_its_childrens",),
    ),
    Mutant(
        "suite_cpu_teardown_not_counted",
        "benchmarks/suite_cpu.py's per-test CPU seconds leave out the tear-down",
        (Edit("benchmarks/suite_cpu.py", 'return sum(record.get(f"{phase}_cpu", 0.0) for phase in PHASES)',
              'return sum(record.get(f"{phase}_cpu", 0.0) for phase in PHASES[:2])'),),
        (PARITY_SUITE + "test_a_tests_cpu_is_its_setup_call_and_teardown",
         PARITY_SUITE + "test_suite_cpu_table_is_rendered_from_the_recorded_tests"),
    ),
    Mutant(
        "suite_cpu_files_count_calls_only",
        "benchmarks/suite_cpu.py's per-file CPU seconds count each test's call only, not its set-up",
        (Edit("benchmarks/suite_cpu.py", 'per_file[nodeid.split("::")[0]][0] += cpu_of_test(record)',
              'per_file[nodeid.split("::")[0]][0] += record.get("call_cpu", 0.0)'),),
        (PARITY_SUITE + "test_suite_cpu_table_is_rendered_from_the_recorded_tests",),
    ),
    Mutant(
        "threshold_of_minus_one_refused",
        "a similarity threshold of exactly -1 refused, though the documented range is finite and at least -1",
        (Edit("ofa_mue/core/exit_policy.py",
              "    if not math.isfinite(value) or value < -1.0:\n",
              "    if not math.isfinite(value) or value <= -1.0:\n"),),
        (EDGES + "test_a_threshold_of_minus_one_is_accepted_and_below_it_refused",),
    ),
    Mutant(
        "entropy_exit_at_its_threshold",
        "DeeBERT's entropy exit fires at an entropy equal to its threshold instead of strictly below it: "
        "at --entropy-exit-threshold 0 every certain token (SNLI-VE's eos after an answer) stops after layer 1",
        (Edit("ofa_mue/core/exit_policy.py",
              "    return torch.special.entr(probabilities).sum(-1) < self.threshold",
              "    return torch.special.entr(probabilities).sum(-1) <= self.threshold"),),
        (EDGES + "test_entropy_exit_needs_the_entropy_strictly_below_its_threshold",),
    ),
    Mutant(
        "decay_horizon_of_the_longest_token",
        "with one decay horizon per token (SNLI-VE), every token's threshold decays over the longest "
        "horizon of the call instead of its own example's",
        (Edit("ofa_mue/core/exit_policy.py",
              "            horizon = horizon.to(positions.device)[tokens].float()\n",
              "            horizon = horizon.to(positions.device).max().float()\n"),),
        (EDGES + "test_each_token_decays_over_its_own_horizon",),
    ),
    Mutant(
        "zero_candidate_accepted",
        "calibrate accepts a candidate threshold of 0, outside the documented (0, 1]",
        (Edit("ofa_mue/calibrate.py",
              "    if not values or any(not 0.0 < value <= 1.0 for value in values):\n",
              "    if not values or any(not 0.0 <= value <= 1.0 for value in values):\n"),),
        (EDGES + "test_candidate_thresholds_are_in_zero_one",),
    ),
    Mutant(
        "profile_metrics_swapped",
        "the exit profile records the chosen configuration's metric as the full model's and the full "
        "model's as the choice's",
        (Edit("ofa_mue/calibrate.py",
              "    metric = table.example_metric([FULL_MODEL, chosen]).mean(axis=1)\n",
              "    metric = table.example_metric([chosen, FULL_MODEL]).mean(axis=1)\n"),),
        (EDGES + "test_a_profile_records_the_full_models_metric_and_its_choices_metric_and_reduction",),
    ),
    Mutant(
        "profile_reduction_of_the_full_model",
        "the exit profile records the full model's expected time reduction (0) instead of the chosen "
        "configuration's",
        (Edit("ofa_mue/calibrate.py",
              "        \"expected_time_reduction\": float(table.reductions([chosen]).mean()),\n",
              "        \"expected_time_reduction\": float(table.reductions([FULL_MODEL]).mean()),\n"),),
        (EDGES + "test_a_profile_records_the_full_models_metric_and_its_choices_metric_and_reduction",),
    ),
    Mutant(
        "demo_mue_retention_inverted",
        "the demo summary's MuE retention computed as full / MuE instead of MuE / full: a MuE below the "
        "full model passes the >= 96% / >= 99% retention targets",
        (Edit("demo/summary.py",
              "               \"mue_retention\": retention(mue_row[metric], full)}\n",
              "               \"mue_retention\": retention(full, mue_row[metric])}\n"),),
        (EDGES + "test_the_caption_figures_are_shares_of_the_full_models_cider",),
    ),
    Mutant(
        "demo_static_share_of_mue_quality",
        "the demo summary's one-layer static share taken of MuE's quality instead of the full model's "
        "(the wrong figure for the captions' <= 85% check)",
        (Edit("demo/summary.py",
              "                        \"static_1_share\": retention(static_1[\"metric\"], full)})\n",
              "                        \"static_1_share\": retention(static_1[\"metric\"], mue_row[metric])})\n"),),
        (EDGES + "test_the_caption_figures_are_shares_of_the_full_models_cider",),
    ),
    Mutant(
        "split_seed_recorded_without_a_split",
        "a Bonferroni calibration's guarantee records a split seed, though no learn/test split was drawn",
        (Edit("ofa_mue/calibrate.py",
              "        \"split_seed\": seed if procedure == \"fixed-sequence\" else None,\n",
              "        \"split_seed\": seed,\n"),),
        (EDGES + "test_the_guarantee_names_the_split_seed_only_where_a_split_was_drawn",),
    ),
    Mutant(
        "retention_target_of_one_refused",
        "calibrate --method retention refuses --retention 1 (keep all of the full model's metric), "
        "though the documented range is (0, 1]",
        (Edit("ofa_mue/calibrate.py",
              "        if not 0.0 < args.retention <= 1.0:\n",
              "        if not 0.0 < args.retention < 1.0:\n"),),
        (EDGES + "test_the_retention_target_is_in_zero_one[1.0-True]",),
    ),
    Mutant(
        "demo_one_layer_row_by_decoder_depth_only",
        "the demo summary's one-layer static figures read from the first static row with one decoder "
        "layer, whatever its image and text depths",
        (Edit("demo/summary.py",
              "(row[\"image_layers\"], row[\"text_layers\"], row[\"decoder_layers\"]) == (1, 1, 1):",
              "row[\"decoder_layers\"] == 1:"),),
        (EDGES + "test_the_caption_figures_are_shares_of_the_full_models_cider",),
    ),
    Mutant(
        "demo_replaced_run_of_other_rows_accepted",
        "the demo summary takes a replaced-images or certified run that scored another number of rows "
        "than the reproduce run as a figure of the same test split",
        (Edit("demo/summary.py",
              "    if result[\"examples\"] != examples:\n",
              "    if False:\n"),),
        (EDGES + "test_a_replaced_run_of_another_number_of_rows_is_refused",),
    ),
    Mutant(
        "decoder_records_count_padding",
        "a decoder call records every position as a processed token, padding included: the per-sample "
        "decoder token and layer counts (expected time reduction, FLOPs) of a padded teacher-forced pass grow",
        (Edit("models/decoder.py",
              "        counted = tokens.ne(self.padding_idx)\n",
              "        counted = torch.ones_like(tokens, dtype=torch.bool)\n"),),
        (SIMILARITY_GRANULARITY + "test_a_padded_teacher_forced_pass_records_only_its_tokens",),
    ),
    Mutant(
        "step_exits_compare_the_output_with_itself",
        "'step' granularity: each token's choice compares the layer's output with itself (similarity 1) "
        "instead of with the layer's input, so every call stops after the first layer",
        (Edit("models/decoder.py",
              "active = step_exits.after_layer(index, x, x_out, exit_layers)",
              "active = step_exits.after_layer(index, x_out, x_out, exit_layers)"),),
        (SIMILARITY_GRANULARITY + "test_step_exits_stop_at_the_deepest_layer_the_similarities_choose",),
    ),
    Mutant(
        "joint_encoder_without_image_relative_bias",
        "the joint (undecomposed) encoder leaves out the 2-D image relative bias of the patch-patch block",
        (Edit("models/encoder.py",
              "                b[:, :, :n, :n] += self.image_relative_bias(layer, image_buckets)\n",
              "                pass\n"),),
        (ENCODER_INPUTS + "test_the_joint_encoder_adds_each_layers_image_relative_bias_to_the_patches_only",),
    ),
    Mutant(
        "imageless_sample_patches_not_padding",
        "a sample without an image (patch_masks False) keeps its patches as non-padding: its text and its "
        "generated tokens attend to whatever pixels its row of patch_images holds",
        (Edit("models/encoder.py",
              "                image_pad = image_pad | ~patch_masks.bool()[:, None]\n",
              "                pass\n"),),
        (ENCODER_INPUTS + "test_a_sample_without_an_image_decodes_as_if_it_had_none[joint]",
         ENCODER_INPUTS + "test_a_sample_without_an_image_decodes_as_if_it_had_none[decomposed]"),
    ),
    Mutant(
        "text_positions_not_layer_normalised",
        "the encoder's text position embeddings enter the position bias (and the decoder's cross-attention "
        "bias) without OFA's pos_ln",
        (Edit("models/encoder.py",
              "        text_pos = self.pos_ln(text_pos)\n",
              "        pass\n"),),
        (ENCODER_INPUTS + "test_text_tokens_take_ofas_layer_normalised_positions[joint]",
         ENCODER_INPUTS + "test_text_tokens_take_ofas_layer_normalised_positions[decomposed]"),
    ),
    Mutant(
        "dense_layer_lets_exited_tokens_stop_again",
        "'auto' granularity, after a layer run densely: the rule's decision is not restricted to running "
        "tokens, so a token that stopped earlier (its state unchanged, similarity 1) is recorded as stopping "
        "again at every later layer",
        (Edit("models/decoder.py",
              "    stop = rule.should_exit(index, x_in, x_out, positions, token_ids) & active\n",
              "    stop = rule.should_exit(index, x_in, x_out, positions, token_ids)\n"),),
        (SIMILARITY_GRANULARITY + "test_dense_layers_keep_the_exit_layers_of_tokens_that_stopped_before",),
    ),
    Mutant(
        "demo_caption_splits_share_scenes",
        "the demo's caption scenes drawn from a random state without the split: valid and test image i is "
        "train image i, so the caption scores are measured on training pictures",
        (Edit("demo/generate.py",
              "rng = _rng(seed, \"caption\", split, i)",
              "rng = _rng(seed, \"caption\", i)"),),
        (DEMO_DATA + "test_splits_share_no_image_scene_or_image_id",),
    ),
    Mutant(
        "demo_snli_splits_share_scenes",
        "the demo's SNLI-VE rows drawn from a random state without the split: valid and test row i repeat "
        "train row i (same picture, hypothesis and label), so accuracy is measured on training rows",
        (Edit("demo/generate.py",
              "rng = _rng(seed, task, split, i)",
              "rng = _rng(seed, task, i)"),),
        (DEMO_DATA + "test_splits_share_no_image_scene_or_image_id",),
    ),
    Mutant(
        "demo_caption_train_rows_rounded_up",
        "an odd --train gives the caption train file one row more than asked (both references of the last "
        "image kept): sizes no longer count TSV rows",
        (Edit("demo/generate.py",
              "for j in chosen[: rows - len(tsv)]:",
              "for j in chosen:"),),
        (DEMO_DATA + "test_row_counts_not_a_multiple_of_the_blocks_and_labels_in_shuffled_blocks",),
    ),
    Mutant(
        "demo_label_blocks_in_one_order",
        "every block of three SNLI-VE rows gets its labels in the same order: the label is a function of the "
        "row's place (uniq-id modulo 3) instead of balanced in randomly ordered blocks",
        (Edit("demo/generate.py",
              "_rng(seed, task, split, \"labels\", i).shuffle(wants)",
              "_rng(seed, task, split, \"labels\").shuffle(wants)"),),
        (DEMO_DATA + "test_row_counts_not_a_multiple_of_the_blocks_and_labels_in_shuffled_blocks",),
    ),
    Mutant(
        "demo_caption_difficulty_never_hard",
        "caption meta rows tag three-object scenes \"medium\" like two-object ones (no caption is hard): the "
        "README's difficulty table and any per-difficulty analysis are wrong",
        (Edit("demo/generate.py",
              "\"medium\" if n == 2 else \"hard\"",
              "\"medium\" if n >= 2 else \"hard\""),),
        (DEMO_DATA + "test_meta_rows_describe_their_tsv_rows",),
    ),
    Mutant(
        "demo_meta_counts_covers_as_objects",
        "SNLI-VE meta rows count covered cells among the visible objects: ofa_mue.demo.families' \"visible "
        "objects\" rows are grouped by the wrong number",
        (Edit("demo/generate.py",
              "\"n_objects\": len(scene.objects),\n",
              "\"n_objects\": len(scene.objects) + len(scene.hidden),\n"),),
        (DEMO_DATA + "test_meta_rows_describe_their_tsv_rows",),
    ),
    Mutant(
        "demo_bpe_corpus_snli_prompt_swapped",
        "the demo BPE is learnt on SNLI-VE prompts with the hypothesis where OFA puts the premise and the "
        "premise where it puts the hypothesis: not the strings OFA's dataset encodes (its merges and dict.txt "
        "counts are of other text)",
        (Edit("demo/generate.py",
              "SNLI_PROMPT.format(premise, hypothesis)",
              "SNLI_PROMPT.format(hypothesis, premise)"),),
        (DEMO_DATA + "test_bpe_corpus_holds_the_strings_ofas_datasets_encode",),
    ),
    Mutant(
        "demo_images_standard_base64",
        "demo images stored with base64.b64encode ('+' and '/') instead of OFA's urlsafe_b64encode: files "
        "that differ from OFA's format (readers that decode strictly refuse them)",
        (Edit("demo/scenes.py",
              "base64.urlsafe_b64encode(buf.getvalue())",
              "base64.b64encode(buf.getvalue())"),),
        (DEMO_DATA + "test_splits_share_no_image_scene_or_image_id",),
    ),
    Mutant(
        "demo_scenes_never_repeat_objects",
        "sample_scene never repeats a shape or colour on purpose: two objects of the same colour and shape "
        "come up only by chance (about 12% of three-object scenes instead of 30%), so counts and grouped "
        "captions rarely matter",
        (Edit("demo/scenes.py",
              "if n > 1 and rng.random() < 0.4:",
              "if n > 1 and rng.random() < 0.0:"),),
        (DEMO_DATA + "test_scenes_repeat_shapes_and_colours_often_enough_to_count",),
    ),
    Mutant(
        "demo_absence_difficulty_without_the_negation",
        "\"there is no red shape\" tagged easy: the absence family's difficulty leaves out the negation step "
        "the README counts",
        (Edit("demo/language.py",
              "return f\"there is no {filt.words()}\", (\"none\", filt), filt.attributes() + 1",
              "return f\"there is no {filt.words()}\", (\"none\", filt), filt.attributes()"),),
        (DEMO_DATA + "test_hypothesis_difficulty_is_the_number_of_facts_its_words_ask_for",
         DEMO_DATA + "test_meta_rows_describe_their_tsv_rows"),
    ),
    Mutant(
        "demo_region_difficulty_without_the_region",
        "\"there is a red shape in the top row\" tagged easy: the region family's difficulty leaves out the "
        "region",
        (Edit("demo/language.py",
              "(\"exists\", filt, region), filt.attributes() + 1",
              "(\"exists\", filt, region), filt.attributes()"),),
        (DEMO_DATA + "test_hypothesis_difficulty_is_the_number_of_facts_its_words_ask_for",
         DEMO_DATA + "test_meta_rows_describe_their_tsv_rows"),
    ),
    Mutant(
        "demo_relation_difficulty_without_the_relation",
        "\"there is a red shape left of a blue shape\" tagged medium: the relation family's difficulty leaves "
        "out the relation",
        (Edit("demo/language.py",
              "first.attributes() + second.attributes() + 1",
              "first.attributes() + second.attributes()"),),
        (DEMO_DATA + "test_hypothesis_difficulty_is_the_number_of_facts_its_words_ask_for",),
    ),
    Mutant(
        "demo_count_difficulty_one_step_short",
        "\"there are two red shapes\" tagged medium: the count family's difficulty counts the exact count as "
        "one step instead of two",
        (Edit("demo/language.py",
              "(\"count\", filt, k), filt.attributes() + 2",
              "(\"count\", filt, k), filt.attributes() + 1"),),
        (DEMO_DATA + "test_hypothesis_difficulty_is_the_number_of_facts_its_words_ask_for",),
    ),
    Mutant(
        "demo_cover_never_empty",
        "a covered cell is taken to hold an object always (never nothing): \"there is exactly one shape\" "
        "beside a cover is a contradiction instead of neutral, and \"there is a shape\" in the covered cell "
        "an entailment",
        (Edit("demo/language.py",
              "ALL_CONTENTS = (None,) + tuple(",
              "ALL_CONTENTS = tuple("),),
        (DEMO_DATA + "test_a_covered_cell_may_be_empty_or_hold_any_object",),
    ),
    Mutant(
        "exists_yes_questions_never_covered",
        "existence questions answered \"yes\" are asked on scenes without a cover only: a cover then means "
        "\"maybe\" or \"no\" whatever the question names, a cue the question stage can learn instead of looking",
        (Edit("demo/questions.py",
              "hidden = {\"yes\": rng.choice((0, 1)), \"no\": 0, \"maybe\": 1}[want]",
              "hidden = {\"yes\": 0, \"no\": 0, \"maybe\": 1}[want]"),),
        (QUESTIONS + "test_a_cover_does_not_give_an_existence_answer_away",),
    ),
    Mutant(
        "relation_questions_keep_every_empty_answer",
        "relation questions keep every \"no shapes\" answer instead of half of them: the empty answer becomes "
        "the usual one",
        (Edit("demo/questions.py",
              "if not related and rng.random() < 0.5:",
              "if not related and rng.random() < 0.0:"),),
        (QUESTIONS + "test_relation_questions_keep_half_of_the_empty_answers",),
    ),
    Mutant(
        "families_difficulty_grouped_by_family",
        "the demo's per-family SNLI-VE accuracy groups its \"difficulty\" rows by family (a copy of the "
        "family line): the easy/medium/hard accuracies are never reported",
        (Edit("demo/families.py",
              "\"difficulty\": lambda row: row[\"difficulty\"],",
              "\"difficulty\": lambda row: row[\"family\"],"),),
        (DEMO_FAMILIES + "test_each_group_counts_the_meta_rows_of_its_value",),
    ),
    Mutant(
        "pretrain_colour_target_is_the_shape",
        "the vision warm start's colour target of a cell is its object's shape index: the image embedding is "
        "taught to read shapes twice and colours never",
        (Edit("demo/pretrain.py",
              "tuple(COLOURS).index(o.colour),",
              "SHAPES.index(o.shape),"),),
        (DEMO_PRETRAIN + "test_cell_targets_say_what_each_cell_holds_and_where_it_is",),
    ),
    Mutant(
        "pretrain_cell_place_transposed",
        "the vision warm start's column and row targets swapped: each patch is taught the transposed cell",
        (Edit("demo/pretrain.py",
              "targets[:, 4:] = torch.tensor(CELLS)",
              "targets[:, 4:] = torch.tensor(CELLS).flip(1)"),),
        (DEMO_PRETRAIN + "test_cell_targets_say_what_each_cell_holds_and_where_it_is",),
    ),
    Mutant(
        "pretrain_accuracy_over_undefined_cells",
        "the warm start's held-out colour, shape and size accuracies counted over every cell, empty and "
        "covered ones (no such attribute) counted wrong: the printed and saved accuracies understate the "
        "embedding",
        (Edit("demo/pretrain.py",
              "mask = targets[..., j].ne(IGNORE)",
              "mask = targets[..., j].ne(IGNORE) | True"),),
        (DEMO_PRETRAIN + "test_held_out_accuracy_counts_only_the_cells_an_attribute_is_defined_for",),
    ),
    Mutant(
        "pretrain_held_out_scenes_are_training_scenes",
        "the warm start's held-out scenes drawn from the same random state as its training scenes: the "
        "\"held-out\" accuracy is measured on the first 300 training scenes",
        (Edit("demo/pretrain.py",
              "rng = random.Random(f\"ofa-mue-demo-pretrain/{seed}/{name}\")",
              "rng = random.Random(f\"ofa-mue-demo-pretrain/{seed}\")"),),
        (DEMO_PRETRAIN + "test_scenes_repeat_with_the_seed_and_held_out_scenes_are_other_scenes",),
    ),
    Mutant(
        "pretrain_type_embedding_not_trained",
        "the vision warm start leaves the type embedding out of what it optimises: the image tokens' type "
        "vector stays at its random initialisation",
        (Edit("demo/pretrain.py",
              " + [encoder.type_embedding.weight]",
              ""),),
        (DEMO_PRETRAIN + "test_the_warm_start_trains_the_image_embedding_and_nothing_else",),
    ),
    Mutant(
        "pretrain_image_positions_not_trained",
        "the vision warm start leaves the image position embedding out of what it optimises: the patches are "
        "taught their cell's place without the embedding that carries it",
        (Edit("demo/pretrain.py",
              "encoder.patch_layernorm_embedding,\n               encoder.embed_image_positions]",
              "encoder.patch_layernorm_embedding]"),),
        (DEMO_PRETRAIN + "test_the_warm_start_trains_the_image_embedding_and_nothing_else",),
    ),
    Mutant(
        "demo_all_colour_difficulty_easy",
        "\"all the shapes are red\" tagged easy: the \"all\" family's colour and size hypotheses counted as "
        "one fact instead of two",
        (Edit("demo/language.py",
              "    return f\"all the shapes are {value}\", (\"all\", attribute, value), 2\n",
              "    return f\"all the shapes are {value}\", (\"all\", attribute, value), 1\n"),),
        (DEMO_DATA + "test_hypothesis_difficulty_is_the_number_of_facts_its_words_ask_for",),
    ),
    Mutant(
        "predict_premise_and_hypothesis_swapped",
        "predict writes --premise into the SNLI-VE row's hypothesis cell and --hypothesis into its caption "
        "cell: OFA's prompt asks whether the hypothesis implies the premise, and the answer is silently "
        "about the other question",
        (Edit("ofa_mue/predict.py",
              '"image": read_picture(file), "hypothesis": hypothesis,',
              '"image": read_picture(file), "hypothesis": premise if premise is not None else hypothesis,'),
         Edit("ofa_mue/predict.py",
              '"caption": premise if premise is not None else UNUSED_TARGET["caption"],',
              '"caption": hypothesis if premise is not None else UNUSED_TARGET["caption"],')),
        (f"{USER_PATHS}test_predict_gives_the_snli_ve_prompt_the_premise_and_hypothesis_and_each_row_its_own_picture",),
    ),
    Mutant(
        "predict_every_row_gets_the_first_picture",
        "predict writes the first picture into every row: each picture of a folder gets the first one's "
        "caption or answer",
        (Edit("ofa_mue/predict.py",
              '"image": read_picture(file), "hypothesis": hypothesis,',
              '"image": read_picture(files[0]), "hypothesis": hypothesis,'),),
        (f"{USER_PATHS}test_predict_gives_the_snli_ve_prompt_the_premise_and_hypothesis_and_each_row_its_own_picture",
         f"{USER_PATHS}test_predict_gives_the_caption_prompt_and_each_row_its_own_picture"),
    ),
    Mutant(
        "predict_premise_ignored_on_caption_checkpoints",
        "predict --premise on a caption checkpoint is silently ignored instead of refused",
        (Edit("ofa_mue/predict.py", 'for option in ("hypothesis", "premise"):', 'for option in ("hypothesis",):'),),
        (f"{USER_PATHS}test_predict_refuses_text_the_checkpoints_prompt_would_leave_out[premise-to-caption]",),
    ),
    Mutant(
        "predict_premise_ignored_without_caption_prompt",
        "predict --premise on an SNLI-VE checkpoint fine-tuned without --add-caption is silently left out of "
        "the prompt instead of refused",
        (Edit("ofa_mue/predict.py", "if not task.cfg.add_caption and args.premise is not None:", "if False:"),),
        (f"{USER_PATHS}test_predict_refuses_text_the_checkpoints_prompt_would_leave_out[premise-without-caption-prompt]",),
    ),
    Mutant(
        "predict_layer_line_streams_swapped",
        "predict --show-layers prints the text stream's layers under image and the image stream's under text",
        (Edit("ofa_mue/predict.py",
              "f\"  layers: image {layers['image_layers']}/{layers['encoder_depth']}, text {layers['text_layers']}/\"",
              "f\"  layers: image {layers['text_layers']}/{layers['encoder_depth']}, text {layers['image_layers']}/\""),),
        (f"{USER_PATHS}test_predict_layer_lines_name_each_stream_and_the_reduction",),
    ),
    Mutant(
        "predict_time_reduction_depths_swapped",
        "predict's expected time reduction divides the encoder layers by the decoder's depth and the decoder "
        "layers by the encoder's (the same number only when both have equal depth)",
        (Edit("ofa_mue/predict.py", "round(1.0 - time_share(example, encoder_depth, decoder_depth), 4)",
              "round(1.0 - time_share(example, decoder_depth, encoder_depth), 4)"),),
        (f"{USER_PATHS}test_predict_layer_lines_name_each_stream_and_the_reduction",),
    ),
    Mutant(
        "predict_switch_flags_inverted",
        "predict's task switches (--imagenet-default-mean-and-std, --exit-verify) set False when given, so "
        "the flag silently does nothing",
        (Edit("ofa_mue/predict.py", 'action="store_false" if field.default else "store_true"',
              'action="store_true" if field.default else "store_false"'),),
        (f"{USER_PATHS}test_predict_flags_of_task_switches_turn_them_on",),
    ),
    Mutant(
        "predict_last_partial_batch_dropped",
        "predict leaves out the last pictures when their number is not a multiple of --batch-size",
        (Edit("ofa_mue/predict.py", "for start in range(0, count, batch_size):",
              "for start in range(0, count - batch_size + 1, batch_size):"),),
        (f"{USER_PATHS}test_predict_batches_cover_every_picture_once_in_order",),
    ),
    Mutant(
        "port_encoder_ffn_width_from_decoder",
        "a port config's encoder_ffn_dim is ignored: the encoder's FFN width is taken from decoder_ffn_dim",
        (Edit("models/hf_mapping.py", 'encoder_ffn_embed_dim=c["encoder_ffn_dim"],',
              'encoder_ffn_embed_dim=c["decoder_ffn_dim"],'),),
        (f"{CONVERT}test_port_options_of_differing_encoder_and_decoder_go_to_their_own_side_and_back",),
    ),
    Mutant(
        "to_hf_ffn_widths_swapped",
        "convert --to-hf writes the encoder's FFN width as the port's decoder_ffn_dim and the decoder's as "
        "encoder_ffn_dim",
        (Edit("models/hf_mapping.py",
              "encoder_ffn_dim=args.encoder_ffn_embed_dim, decoder_ffn_dim=args.decoder_ffn_embed_dim,",
              "encoder_ffn_dim=args.decoder_ffn_embed_dim, decoder_ffn_dim=args.encoder_ffn_embed_dim,"),),
        (f"{CONVERT}test_port_options_of_differing_encoder_and_decoder_go_to_their_own_side_and_back",),
    ),
    Mutant(
        "port_one_sided_post_ln_accepted",
        "a port config with only one of encoder/decoder_normalize_before false is converted, and that "
        "post-LN side runs as pre-LN",
        (Edit("models/hf_mapping.py", 'if not (c["encoder_normalize_before"] and c["decoder_normalize_before"]):',
              'if not (c["encoder_normalize_before"] or c["decoder_normalize_before"]):'),),
        (f"{CONVERT}test_one_sided_or_untied_port_settings_are_refused[post-ln-decoder]",
         f"{CONVERT}test_one_sided_or_untied_port_settings_are_refused[post-ln-encoder]"),
    ),
    Mutant(
        "port_untied_embeddings_accepted",
        "a port config with share_decoder_input_output_embed false is converted as if OFA's tied embeddings",
        (Edit("models/hf_mapping.py", 'if not c["share_decoder_input_output_embed"]:', "if False:"),),
        (f"{CONVERT}test_one_sided_or_untied_port_settings_are_refused[untied-embeddings]",),
    ),
    Mutant(
        "port_model_prefix_cut_one_short",
        "the port's task-head weights lose 'model' but keep the '.' of their prefix: none of their keys maps",
        (Edit("models/hf_mapping.py", 'key[len("model."):]', 'key[len("model"):]'),),
        (f"{CONVERT}test_the_ports_weights_of_a_task_head_model_lose_their_model_prefix",),
    ),
    Mutant(
        "pickled_reader_shares_the_file_descriptor",
        "a pickled TSVReader (a data-loader worker's copy) keeps the original's file descriptor number: it "
        "reads through a descriptor the original closes (or another file's that reuses the number)",
        (Edit("data/tsv.py", '        state["_fd"] = None\n', ""),),
        ("tests/test_data_tsv.py::test_a_pickled_reader_outlives_the_original",),
    ),
    Mutant(
        "answer_trie_off_tree_allows_nothing",
        "a prefix that has left the answer trie allows no token (every logit -inf) instead of only eos, as "
        "OFA's trie",
        (Edit("data/constraints.py", "                return [self.eos]\n", "                return []\n"),),
        (f"{SNLI_DATA}test_answer_trie_of_several_token_answers_allows_each_next_token_then_only_eos",),
    ),
    Mutant(
        "caption_empty_batch_not_empty",
        "the caption collater returns references and split for an empty list of samples, so fairseq does not "
        "skip the empty batch and the model is called without net_input",
        (Edit("data/caption_dataset.py", "        if batch:\n", "        if True:\n"),),
        ("tests/test_data_caption.py::test_an_empty_batch_collates_to_nothing",),
    ),
    Mutant(
        "cli_short_help_unknown",
        "ofa-mue -h is refused as an unknown command '-h' instead of printing the usage",
        (Edit("ofa_mue/cli.py", 'args[0] in ("-h", "--help")', 'args[0] == "--help"'),),
        ("tests/test_cli.py::test_short_help_prints_the_usage",),
    ),
    Mutant(
        "to_hf_scale_resids_accepted",
        "convert --to-hf writes a port config for a model with residual scaling (scale_resids), which the "
        "port does not have: the port silently runs another model",
        (Edit("models/hf_mapping.py", "    if args.scale_resids:\n", "    if False:\n"),),
        (f"{CONVERT}test_to_hf_refuses_models_the_port_would_run_otherwise[scale-resids]",),
    ),
    Mutant(
        "to_hf_partial_normformer_accepted",
        "convert --to-hf accepts scale_attn without scale_fc (or the reverse) and writes normformer from "
        "scale_attn alone: the port scales both or neither",
        (Edit("models/hf_mapping.py", "if args.scale_attn != args.scale_fc or not args.scale_heads:",
              "if not args.scale_heads:"),),
        (f"{CONVERT}test_to_hf_refuses_models_the_port_would_run_otherwise[scale-attn-without-scale-fc]",),
    ),
    Mutant(
        "to_hf_entangled_decoder_positions_accepted",
        "convert --to-hf accepts a model trained without --disable-entangle (positions added to the decoder's "
        "tokens) with entangle_position_embedding false: the port adds no positions to the decoder's tokens",
        (Edit("models/hf_mapping.py",
              'if (not getattr(args, "disable_entangle", False)) != bool(args.entangle_position_embedding):',
              "if False:"),),
        (f"{CONVERT}test_to_hf_refuses_models_the_port_would_run_otherwise[entangled-decoder-positions]",),
    ),
    Mutant(
        "to_hf_position_sizes_differ_accepted",
        "convert --to-hf accepts differing encoder and decoder position tables and writes the encoder's size "
        "as the port's one max_position_embeddings",
        (Edit("models/hf_mapping.py", "if args.max_source_positions != args.max_target_positions:", "if False:"),),
        (f"{CONVERT}test_to_hf_refuses_models_the_port_would_run_otherwise[position-sizes]",),
    ),
    Mutant(
        "sweep_static_setting_names_the_text_depth_as_the_images",
        "a static grid point's setting names its text depth as the image's and its image depth as the text's: "
        "the tables and figures label each cut by the other stream",
        (Edit("ofa_mue/sweep.py", 'f"image {image} / text {text} / decoder {decoder}"',
              'f"image {text} / text {image} / decoder {decoder}"'),),
        (SWEEP_TABLES + "test_static_grid_is_every_depth_combination_but_the_full_models",),
    ),
    Mutant(
        "sweep_default_depths_without_the_full_encoder",
        "the default --depths stop one layer short of the encoder's depth: no static point cuts one part while "
        "the streams run in full",
        (Edit("ofa_mue/sweep.py", "        encoder = list(range(1, encoder_layers + 1))\n",
              "        encoder = list(range(1, encoder_layers))\n"),),
        (SWEEP_TABLES + "test_static_grid_is_every_depth_combination_but_the_full_models",),
    ),
    Mutant(
        "sweep_depth_of_the_deepest_part_refused",
        "--depths refuses the deepest part's own depth (--depths 24 on ofa_huge) as 'deeper than the model'",
        (Edit("ofa_mue/sweep.py", "        if value > max(encoder_layers, decoder_layers):\n",
              "        if value >= max(encoder_layers, decoder_layers):\n"),),
        (SWEEP_TABLES + "test_static_grid_is_every_depth_combination_but_the_full_models",),
    ),
    Mutant(
        "sweep_default_patience_of_the_whole_decoder",
        "the default --patiences run to the decoder's depth: a patience that can never exit is swept as a "
        "PABEE setting (the full model under the baseline's name)",
        (Edit("ofa_mue/sweep.py", "else list(range(1, decoder_layers)))",
              "else list(range(1, decoder_layers + 1)))"),),
        (SWEEP_TABLES + "test_grid_points_take_every_patience_below_the_decoder_depth_and_name_the_given_point",),
    ),
    Mutant(
        "sweep_given_threshold_of_one_called_off",
        "the given operating point's setting calls a threshold of exactly 1 (which exits) 'off'",
        (Edit("ofa_mue/sweep.py", 'f"{part} {value:g}" if value <= 1.0 else f"{part} off"',
              'f"{part} {value:g}" if value < 1.0 else f"{part} off"'),),
        (SWEEP_TABLES + "test_grid_points_take_every_patience_below_the_decoder_depth_and_name_the_given_point",),
    ),
    Mutant(
        "sweep_curve_label_from_every_curve",
        "a trade-off curve's legend lists the exiting parts of every row of the sweep, not of its own curve: "
        "MuE's decoder-only curve reads as exiting in the encoder too",
        (Edit("ofa_mue/sweep.py", 'exits = sorted({row["exits"] for row in rows if row["curve"] == curve}, key=',
              'exits = sorted({row["exits"] for row in rows}, key='),),
        (SWEEP_TABLES + "test_curve_labels_name_the_parts_that_exit_in_that_curve_only",),
    ),
    Mutant(
        "sweep_envelope_without_the_full_model",
        "the trade-off figure's static envelope is built from the static grid without the full model: it "
        "starts below full quality at no saving, so every curve looks better against it",
        (Edit("ofa_mue/sweep.py",
              'for r in rows if r["curve"] in ("static", "full")]',
              'for r in rows if r["curve"] == "static"]'),),
        (SWEEP_TABLES + "test_tradeoff_figure_builds_the_static_envelope_from_the_full_model_and_the_grid",),
    ),
    Mutant(
        "sweep_markdown_image_and_text_layers_swapped",
        "sweep.md puts each setting's text-stream layers under 'image layers' and its image-stream layers under "
        "'text layers'",
        (Edit("ofa_mue/sweep.py",
              "measured_text(row), f\"{row['image_layers']:.2f}\",\n"
              "                     f\"{row['text_layers']:.2f}\",",
              "measured_text(row), f\"{row['text_layers']:.2f}\",\n"
              "                     f\"{row['image_layers']:.2f}\","),),
        (SWEEP_TABLES + "test_sweep_markdown_puts_each_figure_under_its_column_and_flags_a_busy_machine",),
    ),
    Mutant(
        "sweep_busy_note_from_the_15_minute_load",
        "the timing note's 'machine was busy' warning reads the 15-minute load average instead of the last "
        "minute's, missing a load that came up just before timing",
        (Edit("ofa_mue/sweep.py", 'if load is not None and load[0] > timing["usable_cores"]:',
              'if load is not None and load[2] > timing["usable_cores"]:'),),
        (SWEEP_TABLES + "test_sweep_markdown_puts_each_figure_under_its_column_and_flags_a_busy_machine",),
    ),
    Mutant(
        "table2_cells_transposed",
        "Table 2's markdown reads the cell of (image depth, text depth) from the (text, image) setting: an "
        "asymmetric grid's figures land in the wrong row and column",
        (Edit("ofa_mue/paper_tables.py", "entry = cells.get((image, text))", "entry = cells.get((text, image))"),),
        (SWEEP_TABLES + "test_table2_crosses_image_rows_with_text_columns_with_the_decoder_in_full",),
    ),
    Mutant(
        "table2_keeps_decoder_cuts",
        "Table 2 (decoder in full) also takes settings that cut the decoder: a cut decoder's cell overwrites "
        "or sits beside the full decoder's",
        (Edit("ofa_mue/paper_tables.py", "        if decoder == decoder_layers:\n            table.append(",
              "        if True:\n            table.append("),),
        (SWEEP_TABLES + "test_table2_crosses_image_rows_with_text_columns_with_the_decoder_in_full",),
    ),
    Mutant(
        "table1_quality_tie_broken_by_the_smaller_saving",
        "Table 1 breaks a baseline's quality tie among settings saving at least MuE's time by the smaller "
        "saving instead of the larger",
        (Edit("ofa_mue/paper_tables.py",
              'key=lambda row: (row["metric"], row["expected_time_reduction"]))',
              'key=lambda row: (row["metric"], -row["expected_time_reduction"]))'),),
        (SWEEP_TABLES + "test_table1_breaks_a_quality_tie_by_the_larger_saving_and_puts_figures_under_their_columns",),
    ),
    Mutant(
        "table1_markdown_retention_and_reduction_swapped",
        "Table 1's markdown puts the expected time reduction under 'kept' and the retention under 'expected "
        "time reduction'",
        (Edit("ofa_mue/paper_tables.py",
              'percent(entry["retention"]), percent(entry["expected_time_reduction"]), measured_text(entry),',
              'percent(entry["expected_time_reduction"]), percent(entry["retention"]), measured_text(entry),'),),
        (SWEEP_TABLES + "test_table1_breaks_a_quality_tie_by_the_larger_saving_and_puts_figures_under_their_columns",),
    ),
    Mutant(
        "table4_markdown_full_and_mue_metrics_swapped",
        "Table 4's markdown puts MuE's metric under 'full model' and the full model's under 'MuE'",
        (Edit("ofa_mue/paper_tables.py", "f\"{entry['full_metric']:.4f}\", f\"{entry['metric']:.4f}\",",
              "f\"{entry['metric']:.4f}\", f\"{entry['full_metric']:.4f}\","),),
        (SWEEP_TABLES + "test_table4_gives_the_full_models_and_mues_metric_each_in_its_column",),
    ),
    Mutant(
        "reproduce_given_overrides_beat_decomposition",
        "Table 4's joint variant keeps a --model-overrides decompose_modalities False over reproduce's own "
        "decomposition: MuE's encoder exits run on the joint encoder",
        (Edit("ofa_mue/reproduce.py", '{**ast.literal_eval(given or "{}"), **extra}',
              '{**extra, **ast.literal_eval(given or "{}")}'),),
        (SWEEP_TABLES + "test_reproduce_adds_its_overrides_to_the_given_ones_and_refuses_any_form_of_gen_subset",),
    ),
    Mutant(
        "reproduce_gen_subset_with_equals_accepted",
        "--calibrate-args '--gen-subset=test' slips past the refusal (only the spaced form is caught), so the "
        "thresholds can be tuned on the reported split",
        (Edit("ofa_mue/reproduce.py", 'option.split("=")[0] == "--gen-subset"', 'option == "--gen-subset"'),),
        (SWEEP_TABLES + "test_reproduce_adds_its_overrides_to_the_given_ones_and_refuses_any_form_of_gen_subset",),
    ),
    Mutant(
        "static_chosen_without_the_full_model",
        "--static-chosen-on evaluates only the static grid on the other split, not the full model: the held-out "
        "envelope misses the no-saving end",
        (Edit("ofa_mue/reproduce.py", '[p for p in points if p.curve in ("full", "static")]',
              '[p for p in points if p.curve == "static"]'),),
        (SWEEP_TABLES + "test_static_grid_on_another_split_keeps_the_full_model",),
    ),
    Mutant(
        "figure3_decoder_step_padding_of_the_first_positions",
        "Figure 3's decoder hook masks an incremental step's token with the padding of the first positions "
        "instead of its own (the last): padded beams measured, real ones dropped",
        (Edit("ofa_mue/saturation.py", "similarity = similarity[~padding[:, -x_in.size(1):]]",
              "similarity = similarity[~padding[:, :x_in.size(1)]]"),),
        (SWEEP_TABLES + "test_decoder_step_is_measured_with_its_own_positions_padding",),
    ),
    Mutant(
        "figure3_probe_accepts_exits",
        "the layer-similarity probe records a decoder layer that ran on a subset of tokens (exits on) instead "
        "of refusing it",
        (Edit("ofa_mue/saturation.py", '            if kwargs.get("active") is not None:\n',
              '            if False:\n'),),
        (SWEEP_TABLES + "test_decoder_step_is_measured_with_its_own_positions_padding",),
    ),
    Mutant(
        "figure3_threshold_of_one_not_drawn",
        "Figure 3 leaves out a MuE threshold of exactly 1 (which exits) from its panel",
        (Edit("ofa_mue/saturation.py", "        if first == last <= 1.0:\n", "        if first == last < 1.0:\n"),),
        (SWEEP_TABLES + "test_figure3_draws_each_parts_band_and_every_threshold_that_can_exit",),
    ),
    Mutant(
        "figure3_band_from_the_mean",
        "Figure 3's spread band runs from each layer's mean to its 90th percentile instead of from its 10th",
        (Edit("ofa_mue/saturation.py", 'axis.fill_between(layers, [row["p10"] for row in mine]',
              'axis.fill_between(layers, [row["mean"] for row in mine]'),),
        (SWEEP_TABLES + "test_figure3_draws_each_parts_band_and_every_threshold_that_can_exit",),
    ),
    Mutant(
        "flops_stream_exit_tests_over_the_other_streams_tokens",
        "an image-stream exit test's FLOPs are counted over the text stream's tokens and a text-stream test's "
        "over the image's: the tests' cost follows the other stream's length (equal when both streams test "
        "equally often)",
        (Edit("ofa_mue/core/flops.py",
              "similarity_test_flops(d, images) * example.image_tests\n"
              "                           + similarity_test_flops(d, texts) * example.text_tests",
              "similarity_test_flops(d, texts) * example.image_tests\n"
              "                           + similarity_test_flops(d, images) * example.text_tests"),),
        (SWEEP_TABLES + "test_each_streams_exit_tests_are_counted_over_its_own_tokens",),
    ),
    Mutant(
        "flops_full_depth_keeps_the_rows_depth",
        "the full-depth reference projects each decoder row's encoder keys/values only as deep as the "
        "example's deepest exited token, not through every decoder layer",
        (Edit("ofa_mue/core/flops.py", "decoder_deepest=decoder if example.decoder_tokens else 0,",
              "decoder_deepest=example.decoder_deepest,"),),
        (SWEEP_TABLES + "test_full_depth_runs_every_decoder_layer_for_every_token_and_row",),
    ),
    Mutant(
        "flops_full_depth_keeps_the_tokens_key_values",
        "the full-depth reference keeps the exited run's decoder key/value projections instead of every "
        "layer's for every token, so the FLOPs reduction is understated",
        (Edit("ofa_mue/core/flops.py", "decoder_kv_layer_sum=decoder * example.decoder_tokens,",
              "decoder_kv_layer_sum=example.decoder_kv_layer_sum,"),),
        (SWEEP_TABLES + "test_full_depth_runs_every_decoder_layer_for_every_token_and_row",),
    ),
    Mutant(
        "ofa_model_not_bert_initialised",
        "a new model keeps torch's default initialisation instead of OFA's init_bert_params (N(0, 0.02) "
        "weights, zero biases): a model trained from scratch starts from weights up to 50 times larger",
        (Edit("models/ofa.py", "            model.apply(init_bert_params)\n", "            pass\n"),),
        (OFA_MODEL_HABITS + "test_a_new_model_is_initialised_as_ofas_with_bert_params",),
    ),
    Mutant(
        "normformer_hint_with_other_weights_missing",
        "a checkpoint lacking NormFormer weights and others is refused with the hint to pass --no-scale-*, "
        "which would not make it load",
        (Edit("models/ofa.py",
              "            if all(key.endswith(_NORMFORMER_SUFFIXES) for key in missing):\n",
              "            if any(key.endswith(_NORMFORMER_SUFFIXES) for key in missing):\n"),),
        (OFA_MODEL_HABITS + "test_the_normformer_hint_is_given_only_when_nothing_else_is_missing",),
    ),
    Mutant(
        "snli_ve_candidates_against_other_rows_encoder",
        "SNLI-VE's candidate rows (sample-major: b * 3 + c) decoded against the encoder output repeated "
        "candidate-major: in a batch, a row's answers are scored against other rows' images and texts",
        (Edit("tasks/snli_ve.py",
              "order = torch.arange(batch, device=device).repeat_interleave(len(candidates))",
              "order = torch.arange(batch, device=device).repeat(len(candidates))"),),
        (SNLI_SCORING + "test_a_batch_scores_each_row_against_its_own_image_and_text_as_alone",),
    ),
    Mutant(
        "snli_ve_generate_hypothesis_without_eos",
        "fairseq-generate's SNLI-VE hypothesis holds the answer's tokens without the eos it was scored "
        "with: one token fewer than its positional scores",
        (Edit("tasks/snli_ve.py",
              '"tokens": torch.cat([self.candidates[choice], eos]).to(positional.device)',
              '"tokens": self.candidates[choice].to(positional.device)'),),
        (SNLI_SCORING + "test_fairseq_generate_hypothesis_is_the_best_answer_and_eos_with_a_score_per_token",),
    ),
    Mutant(
        "snli_ve_generate_scores_the_prompt_positions",
        "fairseq-generate's SNLI-VE positional scores include a 0 for every decoder-prompt (and padding) "
        "position, not one score per hypothesis token",
        (Edit("tasks/snli_ve.py",
              "            positional = token_scores[index, choice][scored[index, choice]]\n",
              "            positional = token_scores[index, choice]\n"),),
        (SNLI_SCORING + "test_fairseq_generate_hypothesis_is_the_best_answer_and_eos_with_a_score_per_token",),
    ),
    Mutant(
        "snli_ve_generate_tally_not_reset",
        "fairseq-generate's SNLI-VE tally is kept after the split's accuracy is logged: a second pass over "
        "the split never logs its accuracy",
        (Edit("tasks/snli_ve.py", "            del self._generation_tally[split]\n", ""),),
        (SNLI_SCORING + "test_fairseq_generate_hypothesis_is_the_best_answer_and_eos_with_a_score_per_token",),
    ),
    Mutant(
        "snli_ve_generate_accuracy_of_the_last_batch",
        "fairseq-generate's SNLI-VE accuracy counts the correct answers of the split's last batch only, "
        "divided by all its rows",
        (Edit("tasks/snli_ve.py",
              "        tally[0] += sum(p == a for p, a in zip(predictions, sample[\"answers\"]))\n",
              "        tally[0] = sum(p == a for p, a in zip(predictions, sample[\"answers\"]))\n"),),
        (SNLI_SCORING + "test_fairseq_generate_hypothesis_is_the_best_answer_and_eos_with_a_score_per_token",),
    ),
    Mutant(
        "snli_ve_horizon_without_the_answer",
        "SNLI-VE's decoder length (the decaying threshold's horizon N, and the length checked against "
        "the model's positions) counts the prompt only, not the answer after it",
        (Edit("tasks/snli_ve.py",
              "        return torch.tensor([len(prompt) + longest for prompt in sample[\"decoder_prompts\"]])\n",
              "        return torch.tensor([len(prompt) for prompt in sample[\"decoder_prompts\"]])\n"),),
        (SNLI_SCORING + "test_decoder_length_is_the_prompt_and_the_longest_answer",),
    ),
    Mutant(
        "train_step_does_not_tell_the_criterion_the_update",
        "the tasks' train_step no longer passes the update number to the criterion (fairseq's own does "
        "not): --drop-worst-after never starts dropping",
        (Edit("tasks/ofa_task.py", "            criterion.set_num_updates(update_num)\n", "            pass\n"),),
        (SNLI_SCORING + "test_train_step_tells_the_criterion_the_update_before_its_loss",),
    ),
    Mutant(
        "snli_ve_constraint_masks_at_prev_output_answer_position",
        "SNLI-VE's constraint masks start at the answer position of --prompt-type prev_output whatever the "
        "prompt type: with none or src the answer and eos are constrained at other positions than theirs",
        (Edit("data/snli_ve_dataset.py",
              'sample["target"], len(decoder_prompt) - 1, len(self.vocab.dictionary)',
              'sample["target"], len(source) - 2, len(self.vocab.dictionary)'),),
        (f"{SNLI_DATA}test_constraint_masks_follow_the_answer_after_every_prompt_type[none]",
         f"{SNLI_DATA}test_constraint_masks_follow_the_answer_after_every_prompt_type[src]"),
    ),
    Mutant(
        "one_data_file_trains_on_nothing",
        "--data naming one TSV file (no folder) leaves training no file (all but the last of none): "
        "fairseq-train fails on a division by zero instead of training on it",
        (Edit("tasks/ofa_task.py", "        return paths[:-1] or paths\n", "        return paths[:-1]\n"),),
        ("tests/test_ofa_training_options.py::test_a_single_file_as_data_is_read_by_every_split",),
    ),
    Mutant(
        "layerwise_unwraps_one_wrapper",
        "the layer-wise criterion unwraps one wrapper only: under fairseq's ModuleProxyWrapper around "
        "DistributedDataParallel it looks for the decoder on the inner wrapper",
        (Edit("criterions/layerwise.py", '    while "module" in model._modules:\n',
              '    if "module" in model._modules:\n'),),
        (LAYERWISE + "test_layer_states_come_through_fairseqs_two_wrappers",),
    ),
    Mutant(
        "snli_ve_horizons_candidate_major",
        "SNLI-VE's exit session lays the examples' horizons out candidate-major while the candidate rows are "
        "sample-major (b * 3 + c): a row's decaying threshold runs with another example's horizon N",
        (Edit("tasks/snli_ve.py",
              "        horizons = lengths.repeat_interleave(len(self.candidates))",
              "        horizons = lengths.repeat(len(self.candidates))"),),
        (SNLI_SCORING + "test_exit_session_gives_each_candidate_row_its_examples_horizon_and_the_answers_"
         "distribution",),
    ),
    Mutant(
        "snli_ve_projection_skips_the_first_scored_position",
        "SNLI-VE's answer projection for the exit rules leaves the batch's first scored position (the first "
        "row's answer, mask row 0) unconstrained: its exit is judged over the whole vocabulary",
        (Edit("tasks/snli_ve.py", "        constrained = rows >= 0\n", "        constrained = rows > 0\n"),),
        (SNLI_SCORING + "test_exit_session_gives_each_candidate_row_its_examples_horizon_and_the_answers_"
         "distribution",),
    ),
    Mutant(
        "snli_ve_scored_layers_count_the_prompt",
        "SNLI-VE's records sum the decoder layers of every position, prompt included, as those of its "
        "scored positions while counting only the scored ones: the scored-positions time reduction comes "
        "out too small",
        (Edit("tasks/snli_ve.py",
              "            sums = (exit_layers * scored).flatten(1).sum(-1).tolist()\n",
              "            sums = exit_layers.flatten(1).sum(-1).tolist()\n"),),
        (SNLI_SCORING + "test_evaluation_records_count_the_decoder_layers_of_the_scored_positions_apart",),
    ),
    Mutant(
        "decompose_modalities_default_on",
        "the architectures default decompose_modalities on: a checkpoint of OFA's (whose saved options lack "
        "it) is built with MuE's decomposed encoder, no image-text attention, and computes another model",
        (Edit("models/ofa.py", '("decompose_modalities", False)', '("decompose_modalities", True)'),),
        (ARCHITECTURE + "test_architecture_defaults_leave_the_switches_no_shape_shows_off[ofa_base]",),
    ),
    Mutant(
        "freeze_resnet_default_on",
        "the architectures default freeze_resnet on: a model built from options that do not name it (a "
        "checkpoint whose saved options lack it, the builders) keeps the ResNet's BatchNorm statistics and "
        "affine parameters fixed, which OFA trains",
        (Edit("models/ofa.py", '("freeze_resnet", False)', '("freeze_resnet", True)'),),
        (ARCHITECTURE + "test_architecture_defaults_leave_the_switches_no_shape_shows_off[ofa_base]",),
    ),
    Mutant(
        "figure3_decaying_decoder_threshold_drawn_as_theta",
        "Figure 3 draws a decaying decoder threshold (beta below 1) as theta, a value the decoder's exit "
        "test applies at no position (the demo's captions: 0.9 drawn where 0.905 to 0.873 apply)",
        (Edit("ofa_mue/reproduce.py",
              "(rule.theta, rule.theta) if rule.beta == 1.0 else",
              "(rule.theta, rule.theta) if True else"),),
        ("tests/test_reproduce.py::test_figure3_draws_each_streams_threshold_from_the_profile",),
    ),
    Mutant(
        "figure3_decaying_threshold_not_drawn",
        "Figure 3 draws nothing for a decoder threshold that decays, though the decoder exits",
        (Edit("ofa_mue/saturation.py",
              "        elif min(first, last) <= 1.0:\n",
              "        elif False:\n"),),
        (SWEEP_TABLES + "test_figure3_draws_each_parts_band_and_every_threshold_that_can_exit",),
    ),
    Mutant(
        "constraint_masks_read_under_wrong_key",
        "the label-smoothed criterion reads the batch's answer masks under another key (constraint_mask): "
        "SNLI-VE trains on the unconstrained log-softmax, smoothing over the whole vocabulary, unlike OFA",
        (Edit("criterions/label_smoothed_cross_entropy.py",
              '        masks = sample.get("constraint_masks")\n',
              '        masks = sample.get("constraint_mask")\n'),),
        (OFA_CRITERION + "test_the_plain_criterion_restricts_its_loss_and_accuracy_to_the_batchs_constraint_masks",),
    ),
    Mutant(
        "accuracy_from_unconstrained_argmax",
        "the label-smoothed criterion counts a token correct by its argmax over the whole vocabulary, not among "
        "the constraint masks' allowed tokens (OFA counts the constrained argmax): SNLI-VE's accuracy is too low",
        (Edit("criterions/label_smoothed_cross_entropy.py",
              "        correct = lprobs.argmax(-1).eq(target[scored]).sum()\n",
              "        correct = logits[scored].argmax(-1).eq(target[scored]).sum()\n"),),
        (OFA_CRITERION + "test_the_plain_criterion_restricts_its_loss_and_accuracy_to_the_batchs_constraint_masks",),
    ),
    Mutant(
        "layerwise_nll_summed_unweighted",
        "the layer-wise criterion logs nll_loss as the plain sum of the layers' NLLs instead of their "
        "--layer-weights mean (as loss): nll_loss and ppl several times too high",
        (Edit("criterions/layerwise_cross_entropy.py",
              "            nll = nll + weight * layer_nll\n",
              "            nll = nll + layer_nll\n"),),
        (LAYERWISE + "test_logged_nll_is_the_weighted_mean_of_the_layers_and_accuracy_the_last_layers_among_"
                     "allowed_tokens",),
    ),
    Mutant(
        "scst_score_meter_unweighted",
        "SCST's logged score (mean CIDEr-D) enters its meter with weight 1 per log instead of its number of "
        "sampled captions (OFA's nsentences): an interval's score is the mean of the batches' means",
        (Edit("criterions/scst.py",
              'metrics.log_scalar("score", cider / max(num_captions, 1), num_captions, round=3)',
              'metrics.log_scalar("score", cider / max(num_captions, 1), 1, round=3)'),),
        (SCST + "test_logged_loss_score_and_layer_losses_are_weighted_as_ofas_meters",),
    ),
    Mutant(
        "scst_loss_meter_unweighted",
        "SCST's logged loss enters its meter with weight 1 per log instead of its sample_size (as OFA): an "
        "interval's loss is the mean of the batches' per-token losses",
        (Edit("criterions/scst.py",
              'metrics.log_scalar("loss", loss / max(sample_size, 1), sample_size, round=3)',
              'metrics.log_scalar("loss", loss / max(sample_size, 1), 1, round=3)'),),
        (SCST + "test_logged_loss_score_and_layer_losses_are_weighted_as_ofas_meters",),
    ),
    Mutant(
        "scst_layer_losses_per_caption",
        "SCST's --layerwise-loss logs loss_layer{i} per sampled caption while loss is per token: the layers' "
        "losses are not in the unit of the loss they average to",
        (Edit("criterions/scst.py",
              'log_layer_metric(logging_outputs, "loss_layer", "loss_layer", sample_size)',
              'log_layer_metric(logging_outputs, "loss_layer", "loss_layer", num_captions)'),),
        (SCST + "test_logged_loss_score_and_layer_losses_are_weighted_as_ofas_meters",),
    ),
    Mutant(
        "validation_cider_first_splits_document_frequencies",
        "--eval-cider keeps the CIDEr-D document frequencies of the first split it scores for every later split "
        "(--valid-subset valid,test): the test split's captions are scored with the valid split's frequencies",
        (Edit("tasks/caption.py",
              "        if split not in self._validation_cider:\n"
              "            self._validation_cider[split] = CiderD.from_references(self.dataset(split).all_references())\n"
              "        return self._validation_cider[split].scores(predictions, references)\n",
              "        if not self._validation_cider:\n"
              "            self._validation_cider[None] = CiderD.from_references(self.dataset(split).all_references())\n"
              "        return self._validation_cider[None].scores(predictions, references)\n"),),
        (CAPTION_REFERENCES + "test_validation_cider_takes_each_splits_own_document_frequencies",),
    ),
    Mutant(
        "per_example_captions_scored_untokenised",
        "CaptionScorer (the per-example CIDEr-D and ROUGE-L of calibration and sweeps) scores the captions as "
        "written, without the PTB tokenizer its references and anchors go through: a capital letter or a "
        "comma costs a caption its matches",
        (Edit("ofa_mue/caption_metrics.py",
              "        hypotheses = _tokenize([[p] for p in predictions])\n",
              "        hypotheses = {i: [p] for i, p in enumerate(predictions)}\n"),),
        (CAPTION_METRICS + "test_per_example_scores_tokenise_the_captions_and_anchors_as_the_references",),
    ),
    Mutant(
        "per_example_anchors_untokenised",
        "CaptionScorer keeps the anchor captions (the full model's) as written while the captions are "
        "PTB-tokenised: a caption equal to its anchor gets ROUGE-L below 1 when the anchor has capitals or "
        "punctuation",
        (Edit("ofa_mue/caption_metrics.py",
              "        self.anchors = _tokenize([[a] for a in anchors])\n",
              "        self.anchors = {i: [a] for i, a in enumerate(anchors)}\n"),),
        (CAPTION_METRICS + "test_per_example_scores_tokenise_the_captions_and_anchors_as_the_references",),
    ),
    Mutant(
        "log_softmax_in_half_precision",
        "the label-smoothed criterion (and the layer-wise and SCST losses that share its log-softmax) takes the "
        "log-softmax of --fp16 logits in float16, where OFA's get_normalized_probs computes it in float32",
        (Edit("criterions/label_smoothed_cross_entropy.py", "    logits = logits.float()\n", ""),),
        (OFA_CRITERION + "test_log_probabilities_are_float32_when_the_logits_are_half_precision",),
    ),
    Mutant(
        "drop_worst_keeps_rounded_share",
        "--drop-worst-ratio keeps round(N * (1 - ratio)) tokens instead of OFA's int(...): 7 tokens at 0.3 "
        "keep 5, one more than OFA",
        (Edit("criterions/label_smoothed_cross_entropy.py",
              "k=int(loss.numel() * (1 - ratio)), largest=False)",
              "k=round(loss.numel() * (1 - ratio)), largest=False)"),),
        (OFA_CRITERION + "test_drop_worst_keeps_the_rounded_down_share_and_divides_the_gradient_by_it",),
    ),
    Mutant(
        "drop_worst_denominator_rounded",
        "with --drop-worst-ratio the gradient is divided by round(ntokens * (1 - ratio)) where OFA divides by "
        "the int(...) tokens it keeps: the loss per kept token is off when the share has a fraction above .5",
        (Edit("criterions/label_smoothed_cross_entropy.py",
              "return int(ntokens * (1 - self.drop_worst_ratio)) if self.dropping_worst() else ntokens",
              "return round(ntokens * (1 - self.drop_worst_ratio)) if self.dropping_worst() else ntokens"),),
        (OFA_CRITERION + "test_drop_worst_keeps_the_rounded_down_share_and_divides_the_gradient_by_it",),
    ),
    Mutant(
        "summary_image_depth_counts_examples_without_images",
        "the split's mean image depth averages in the 0 of examples without an image stream",
        (Edit("ofa_mue/core/time_reduction.py",
              "image_layers=mean([e.image_layers for e in examples if e.image_tokens]),",
              "image_layers=mean([e.image_layers for e in examples]),"),),
        (SUMMARY_ROWS,),
    ),
    Mutant(
        "summary_text_depth_counts_examples_without_text",
        "the split's mean text depth averages in the 0 of examples without a text stream",
        (Edit("ofa_mue/core/time_reduction.py",
              "text_layers=mean([e.text_layers for e in examples if e.text_tokens]),",
              "text_layers=mean([e.text_layers for e in examples]),"),),
        (SUMMARY_ROWS,),
    ),
    Mutant(
        "summary_scored_depth_counts_examples_without_scored_positions",
        "the split's mean scored-positions decoder depth averages in the 0 of examples with decoder "
        "positions but none scored (filtered on the processed positions)",
        (Edit("ofa_mue/core/time_reduction.py",
              "mean([e.decoder_layers(True) for e in examples if e.decoder_sums(True)[1]])",
              "mean([e.decoder_layers(True) for e in examples if e.decoder_tokens])"),),
        (SUMMARY_ROWS,),
    ),
    Mutant(
        "per_example_time_share_of_scored_positions",
        "each example's row (the calibration table's time share) gives the scored-positions variant, "
        "not the main figure",
        (Edit("ofa_mue/core/time_reduction.py",
              '"time_share": time_share(e, encoder_depth, decoder_depth)}',
              '"time_share": time_share(e, encoder_depth, decoder_depth, scored_positions=True)}'),),
        (SUMMARY_ROWS,),
    ),
    Mutant(
        "per_example_scored_depth_is_the_main_depth",
        "each example's row gives its mean decoder depth over every processed position as its "
        "scored-positions depth",
        (Edit("ofa_mue/core/time_reduction.py",
              '"decoder_layers_scored_positions": e.decoder_layers(True),',
              '"decoder_layers_scored_positions": e.decoder_layers(),'),),
        (SUMMARY_ROWS,),
    ),
    Mutant(
        "metrics_report_the_scored_reduction_as_the_main_one",
        "the metrics dict reports the scored-positions reduction under expected_time_reduction",
        (Edit("ofa_mue/core/time_reduction.py",
              '"expected_time_reduction": self.expected_time_reduction,',
              '"expected_time_reduction": self.expected_time_reduction_scored_positions,'),),
        (SUMMARY_ROWS,),
    ),
    Mutant(
        "ensemble_stream_depths_unchecked",
        "a second model's encoder stream that stopped at other depths is counted as one more pass of the first's",
        (Edit("ofa_mue/core/early_exit.py",
              "            if not (torch.equal(first[0], layers) and torch.equal(first[1], tokens)\n",
              "            if not (True and torch.equal(first[1], tokens)\n"),),
        (SESSION_ENSEMBLE,),
    ),
    Mutant(
        "ensemble_stream_tests_unchecked",
        "a second model's encoder stream that ran other exit tests is counted as one more pass of the first's",
        (Edit("ofa_mue/core/early_exit.py",
              " and (tests is None or torch.equal(first[2], tests))",
              ""),),
        (SESSION_ENSEMBLE,),
    ),
    Mutant(
        "stream_pass_counts_unchecked",
        "encoder streams recorded a different number of times are counted with the first stream's count",
        (Edit("ofa_mue/core/early_exit.py",
              "        if len(set(self._stream_passes.values())) != 1:\n",
              "        if False:\n"),),
        (SESSION_ENSEMBLE,),
    ),
    Mutant(
        "step_choice_to_stop_forgotten",
        "under step a token's choice to stop does not stick: only the choices after the current layer count",
        (Edit("ofa_mue/core/exit_granularity.py",
              "        self.chosen |= self.rule.should_exit(",
              "        self.chosen = self.rule.should_exit("),),
        (STEP_STICKS, "tests/test_exit_granularity.py::test_step_exits_stop_every_token_of_a_call_at_the_deepest_choice"),
    ),
    Mutant(
        "weights_caveat_advice_inverted",
        "the weights caveat tells a run of an EMA profile on the model weights to run without --ema-eval",
        (Edit("ofa_mue/core/exit_profile.py",
              "{'with' if calibrated == 'ema' else 'without'}",
              "{'with' if run == 'ema' else 'without'}"),),
        ("tests/test_exit_profile.py::test_the_weights_caveat_tells_a_run_which_weights_the_profile_was_calibrated_on",),
    ),
    Mutant(
        "label_loss_not_binary",
        "the label loss (0 or 1) is certified with Hoeffding-Bentkus p-values instead of exact binomial ones",
        (Edit("ofa_mue/calibration_losses.py",
              'BINARY_LOSSES = frozenset({"consistency", "label", "rouge"})',
              'BINARY_LOSSES = frozenset({"consistency", "rouge"})'),),
        ("tests/test_calibration_losses.py::test_the_zero_one_losses_are_the_ones_given_exact_binomial_p_values",),
    ),
    Mutant(
        "calibration_table_time_shares_not_checked_per_row",
        "a saved configuration with a time share missing reads back, its values against the wrong rows",
        (Edit("ofa_mue/calibration_table.py",
              'for name in ("predictions", "time_share")):',
              'for name in ("predictions",)):'),),
        (RETENTION + "test_a_saved_configuration_without_one_value_per_row_is_refused",),
    ),
    Mutant(
        "calibration_grid_reevaluates_saved_configurations",
        "a calibration given its saved table evaluates every configuration again",
        (Edit("ofa_mue/calibration_table.py",
              " if table is None or c not in table.entries]",
              "]"),),
        (GRID_EVALUATION,),
    ),
    Mutant(
        "calibration_grid_runs_under_the_setups_profile",
        "the grid's configurations run with the evaluation's --exit-profile in effect, so each is "
        "evaluated with the profile's thresholds instead of its own",
        (Edit("ofa_mue/calibration_table.py",
              'setup.set_exit_options(exit_policy="mue", exit_profile=None, ',
              'setup.set_exit_options(exit_policy="mue", '),),
        (GRID_EVALUATION,),
    ),
    Mutant(
        "calibration_table_key_holds_the_thresholds",
        "the calibration table's key holds the command line's thresholds, so a table is refused by a "
        "calibration whose command line gives other thresholds",
        (Edit("ofa_mue/calibration_table.py",
              'for name in (*KNOBS, "exit_policy", "exit_profile"):',
              'for name in ("exit_policy", "exit_profile"):'),),
        (TABLE_KEY,),
    ),
    Mutant(
        "calibration_table_key_holds_the_profile",
        "the calibration table's key holds the command line's --exit-profile",
        (Edit("ofa_mue/calibration_table.py",
              'for name in (*KNOBS, "exit_policy", "exit_profile"):',
              'for name in (*KNOBS, "exit_policy"):'),),
        (TABLE_KEY,),
    ),
    Mutant(
        "score_rows_checks_the_row_count_only",
        "score_rows checks only how many records a split (or shard) gave, so a loader that repeats one row "
        "and drops another passes and the metrics count one example twice and another never",
        (Edit("ofa_mue/evaluate.py", "    if sorted(rows) != expected:\n", "    if len(rows) != len(expected):\n"),),
        (BOOKKEEPING + "test_score_rows_refuses_a_loader_that_repeats_one_row_and_drops_another",),
    ),
    Mutant(
        "score_rows_records_in_batch_order",
        "score_rows returns the records in the order the batches ran, not in row order as documented: "
        "a task whose batches are not in row order writes its predictions out of order",
        (Edit("ofa_mue/evaluate.py", 'return sorted(records, key=lambda record: record["row"]), seconds',
              "return records, seconds"),),
        (BOOKKEEPING + "test_score_rows_returns_each_row_of_its_shard_once_in_row_order_whatever_the_batch_order",),
    ),
    Mutant(
        "rows_checked_against_the_largest_model_of_an_ensemble",
        "the row-length check takes the largest positions of an ensemble's models, so a row longer than "
        "one model's positions is scored instead of refused",
        (Edit("ofa_mue/evaluate.py", "map(min, zip(*(model.max_positions()", "map(max, zip(*(model.max_positions()"),),
        (BOOKKEEPING + "test_rows_are_checked_against_the_smallest_positions_of_the_ensemble_and_one_at_the_limit_is_"
                       "scored",),
    ),
    Mutant(
        "row_at_the_position_limit_refused",
        "a row exactly as long as the model's positions is refused as too long (off by one)",
        (Edit("ofa_mue/evaluate.py", "too_long = lengths > positions[part]", "too_long = lengths >= positions[part]"),),
        (BOOKKEEPING + "test_rows_are_checked_against_the_smallest_positions_of_the_ensemble_and_one_at_the_limit_is_"
                       "scored",),
    ),
    Mutant(
        "evaluation_numpy_not_seeded",
        "an evaluation seeds torch but not numpy with --seed (OFA's evaluate.py seeds both): numpy draws "
        "differ run after run and between the settings calibrate and sweep compare",
        (Edit("ofa_mue/evaluate.py", "            np.random.seed(self.cfg.common.seed)\n", ""),),
        (BOOKKEEPING + "test_a_setup_seeds_numpy_and_torch_with_its_seed_unless_told_not_to",),
    ),
    Mutant(
        "no_seed_provided_ignored",
        "fairseq's --no-seed-provided is accepted but ignored: the random streams are seeded anyway",
        (Edit("ofa_mue/evaluate.py",
              "if self.cfg.common.seed is not None and not self.cfg.generation.no_seed_provided:",
              "if self.cfg.common.seed is not None:"),),
        (BOOKKEEPING + "test_a_setup_seeds_numpy_and_torch_with_its_seed_unless_told_not_to",),
    ),
    Mutant(
        "shard_setup_computes_split_metrics",
        "a shard's setup computes the split's metrics from its own rows only, instead of refusing (the "
        "metrics need every row: merge the shards)",
        (Edit("ofa_mue/evaluate.py",
              '        if self.shard.is_part:\n            raise ConfigError("the metrics',
              '        if False:\n            raise ConfigError("the metrics'),),
        (BOOKKEEPING + "test_a_shards_setup_refuses_to_compute_the_metrics_of_the_split",),
    ),
    Mutant(
        "metrics_file_drops_the_ema_weights",
        "the metrics file of an --ema-eval run does not say that the EMA weights were evaluated: it names "
        "the checkpoint as if its model weights gave the metrics",
        (Edit("ofa_mue/evaluate.py",
              '**({"weights": description["weights"]} if "weights" in description else {}),', ""),),
        (BOOKKEEPING + "test_the_summary_records_the_split_checkpoint_weights_profile_and_drafting_settings",),
    ),
    Mutant(
        "metrics_file_drops_the_draft_length",
        "the lossless mode's metrics file reports the acceptance figures without --exit-verify-draft, the "
        "draft length they were measured at",
        (Edit("ofa_mue/evaluate.py",
              'summary["verification"] = {**description["exit_verify"], **result["verification"]}',
              'summary["verification"] = result["verification"]'),),
        (BOOKKEEPING + "test_the_summary_records_the_split_checkpoint_weights_profile_and_drafting_settings",),
    ),
    Mutant(
        "description_drops_the_ema_weights",
        "an evaluation's description (metrics file and shard files) leaves out --ema-eval, so EMA and model "
        "weight shards of one checkpoint merge and the metrics file names the wrong weights",
        (Edit("ofa_mue/evaluate.py", "            **weights_record(self.ema),\n", ""),),
        (BOOKKEEPING + "test_the_description_names_the_checkpoint_its_weights_and_a_profile_of_the_mue_policy_only",),
    ),
    Mutant(
        "exit_profile_described_for_any_policy",
        "an evaluation with another --exit-policy still reports the guarantee of the --exit-profile it "
        "does not use (the profile's thresholds are the mue policy's)",
        (Edit("ofa_mue/evaluate.py",
              'if self.task.cfg.exit_policy == "mue" and self.task.cfg.exit_profile:',
              "if self.task.cfg.exit_profile:"),),
        (BOOKKEEPING + "test_the_description_names_the_checkpoint_its_weights_and_a_profile_of_the_mue_policy_only",),
    ),
    Mutant(
        "shards_of_another_batch_size_merged",
        "a shard file's description leaves out --batch-size, so shards scored in batches of different sizes "
        "(other padding, other rows per shard) merge as one evaluation",
        (Edit("ofa_mue/evaluate.py", 'return {**self.description(), "batch_size": self.batch_size,',
              "return {**self.description(),"),),
        (BOOKKEEPING + "test_a_shards_description_holds_what_every_shard_must_share",),
    ),
    Mutant(
        "shards_of_another_precision_merged",
        "a shard file's description leaves out --fp16, so float16 and float32 shards merge as one evaluation",
        (Edit("ofa_mue/evaluate.py", '"fp16": bool(self.cfg.common.fp16),', ""),),
        (BOOKKEEPING + "test_a_shards_description_holds_what_every_shard_must_share",),
    ),
    Mutant(
        "shard_folder_reads_every_json",
        "a folder given to merge yields every JSON file in it, so a merge into the shards' own folder "
        "(its test_metrics.json, test_predict.json) cannot be merged again",
        (Edit("ofa_mue/sharding.py", "if SHARD_FILE.search(p))", ")"),),
        (BOOKKEEPING + "test_a_folder_gives_its_shard_files_only",),
    ),
    Mutant(
        "converted_architecture_of_any_matching_size",
        "--from-hf takes the first architecture that shares any one size with the port's config (OFA-base "
        "becomes ofa_medium, both with ResNet-101)",
        (Edit("ofa_mue/convert.py", "if all(getattr(defaults, name) == options[name] for name in SIZE_OPTIONS):",
              "if any(getattr(defaults, name) == options[name] for name in SIZE_OPTIONS):"),),
        (BOOKKEEPING + "test_the_converted_architecture_is_the_one_of_every_size_and_ofa_large_for_none",),
    ),
    Mutant(
        "converted_architecture_fallback_tiny",
        "a port config of no known size is recorded as ofa_tiny, not ofa_large with every size given",
        (Edit("ofa_mue/convert.py", '    return "ofa_large"\n', '    return "ofa_tiny"\n'),),
        (BOOKKEEPING + "test_the_converted_architecture_is_the_one_of_every_size_and_ofa_large_for_none",),
    ),
    Mutant(
        "to_hf_ignores_from_hf_options",
        "--to-hf accepts --task and --patch-image-size and ignores them",
        (Edit("ofa_mue/convert.py", "            if getattr(args, name) is not None:\n", "            if False:\n"),),
        (BOOKKEEPING + "test_to_hf_refuses_the_from_hf_options_rather_than_ignoring_them",),
    ),
    Mutant(
        "from_hf_reads_any_model_type",
        "--from-hf reads a config.json of another model type (BART, ...) as OFA's",
        (Edit("ofa_mue/convert.py", '    if config.get("model_type", "ofa") != "ofa":\n', "    if False:\n"),),
        (BOOKKEEPING + "test_from_hf_refuses_a_config_of_another_model_type",),
    ),
    Mutant(
        "shard_id_outside_the_shard_count_merged",
        "a shard file whose shard id is not below its shard count (an empty third shard of two) merges",
        (Edit("ofa_mue/sharding.py", 'not 0 <= shard["shard_id"] < first["num_shards"]',
              'not 0 <= shard["shard_id"] <= first["num_shards"] + 1'),),
        ("tests/test_sharding.py::test_a_shard_id_outside_the_shard_count_is_refused[2]",),
    ),
    Mutant(
        "merged_evaluation_silent_on_its_exit_profile",
        "merging an evaluation's shards does not log the exit profile's statement (its caveats) as an "
        "unsharded evaluation does",
        (Edit("ofa_mue/merge.py", "    print(json.dumps(summary, indent=2))\n    log_exit_profile(summary)\n",
              "    print(json.dumps(summary, indent=2))\n"),),
        ("tests/test_sharded_evaluation.py::test_sharded_calibration_merges_to_the_unsharded_calibration",),
    ),
    Mutant(
        "decoder_exit_test_after_the_last_layer",
        "the decoder's exit rule is also asked after the last layer, where a token has nothing left to skip "
        "(an entropy rule pays a vocabulary projection per token for nothing)",
        (Edit("models/decoder.py",
              "if exit_rule is not None and index < self.num_layers - 1:",
              "if exit_rule is not None and index < self.num_layers:"),),
        (INFERENCE + "test_no_exit_test_runs_after_the_last_decoder_layer",),
    ),
    Mutant(
        "ragged_cache_lengths_not_advanced_by_the_new_tokens",
        "a decoder call on rows of different cache lengths records each row's count one short of its new "
        "tokens: the next call puts every row's tokens one position back, over its own last cache slot",
        (Edit("models/decoder.py",
              'cache["lengths"] = lengths + length',
              'cache["lengths"] = lengths + length - 1'),),
        ("tests/test_lossless_decoding.py::"
         "test_a_second_call_on_rows_of_different_lengths_continues_each_rows_positions",),
    ),
    Mutant(
        "auto_granularity_weighs_the_running_tokens",
        "'auto' granularity's cost model weighs the work of the tokens still running instead of those that "
        "left: it packs when few tokens exited and runs dense when most did",
        (Edit("models/decoder.py",
              "return packing_pays(active.numel() - int(active.sum()), per_token, launch)",
              "return packing_pays(int(active.sum()), per_token, launch)"),),
        ("tests/test_exit_granularity.py::test_auto_granularity_weighs_the_exited_tokens_work_at_the_calls_keys",),
    ),
    Mutant(
        "auto_granularity_counts_only_the_new_keys",
        "'auto' granularity's cost model prices a layer as if a generation step's token attended to itself "
        "only (the call's new positions), not to the cached positions too",
        (Edit("models/decoder.py",
              "granularity, active, total, encoder_states.size(1))",
              "granularity, active, length, encoder_states.size(1))"),),
        ("tests/test_exit_granularity.py::test_auto_granularity_weighs_the_exited_tokens_work_at_the_calls_keys",),
    ),
    Mutant(
        "position_tables_kept_one_position_too_small",
        "a generation's position tables grow only once a step needs two positions more than they hold: the "
        "step right after their capacity (the 33rd position) gets slices one position short",
        (Edit("models/decoder.py",
              "if tables is None or tables.capacity < total:",
              "if tables is None or tables.capacity < total - 1:"),),
        (INFERENCE + "test_incremental_decoding_beyond_the_first_position_tables_matches_recomputing_the_prefix",),
    ),
    Mutant(
        "decoder_max_positions_not_capped",
        "the decoder's longest target is the larger of --max-target-positions and the relative-position "
        "table: targets beyond the table (or beyond the option) are allowed",
        (Edit("models/decoder.py",
              "return min(self.max_target_positions, self.token_rp_bucket.size(0))",
              "return max(self.max_target_positions, self.token_rp_bucket.size(0))"),),
        (ARCHITECTURE + "test_longest_input_and_target_are_the_options_capped_by_the_position_table",),
    ),
    Mutant(
        "decoder_records_only_the_new_keys",
        "a cached decoder call records its tokens' self-attention keys as the call's new positions only: "
        "the FLOPs count of a generation leaves out attention over the cached positions",
        (Edit("models/decoder.py",
              "keys=total, cached=cache is not None,",
              "keys=length, cached=cache is not None,"),),
        (FLOPS + "test_counts_of_a_generation_with_exits_equal_torchs_flop_counter",),
    ),
    Mutant(
        "decoder_records_no_cache",
        "a cached decoder call is recorded as uncached: the FLOPs count leaves out the keys/values that every "
        "layer projects for tokens that exited before it",
        (Edit("models/decoder.py",
              "keys=total, cached=cache is not None,",
              "keys=total, cached=False,"),),
        (FLOPS + "test_counts_of_a_generation_with_exits_equal_torchs_flop_counter",),
    ),
    Mutant(
        "decoder_embedding_dropout_off_in_training",
        "the decoder drops out its input embeddings at inference (a no-op) instead of in training: OFA's "
        "--dropout never reaches the embeddings the first decoder layer reads",
        (Edit("models/decoder.py",
              "        if self.training:\n            x = self.dropout(x)\n",
              "        if not self.training:\n            x = self.dropout(x)\n"),),
        (ARCHITECTURE + "test_the_decoder_drops_out_its_input_embeddings_in_training_only",),
    ),
    Mutant(
        "position_tables_grow_one_position_at_a_time",
        "a generation's position tables, once outgrown, are rebuilt for just the positions of the step "
        "instead of doubling: every later step rebuilds every layer's [C, C] bias",
        (Edit("models/decoder.py",
              "grown = max(total, MIN_CACHED_POSITIONS, 2 * (",
              "grown = max(total, MIN_CACHED_POSITIONS, 1 * ("),),
        (INFERENCE + "test_incremental_decoding_beyond_the_first_position_tables_matches_recomputing_the_prefix",),
    ),
    Mutant(
        "threshold_of_one_disables_the_encoder_exit",
        "an encoder threshold of exactly 1 disables its stream's exit (no rule, not among the exiting parts), "
        "though only a threshold above 1 is documented to",
        (Edit("ofa_mue/core/exit_policy.py",
              'for name, value in (("image", image), ("text", text)) if value <= 1.0}',
              'for name, value in (("image", image), ("text", text)) if value < 1.0}'),),
        (POLICY + "test_a_threshold_of_one_is_an_exit_and_either_stream_alone_makes_the_encoder_exit",),
    ),
    Mutant(
        "encoder_exits_need_both_streams",
        "MuEThresholds.encoder_exits is true only when both streams have a threshold: an image-only (or "
        "text-only) encoder exit is not handed to the sweep's baselines",
        (Edit("ofa_mue/core/exit_policy.py", "        return self.image <= 1.0 or self.text <= 1.0\n",
              "        return self.image <= 1.0 and self.text <= 1.0\n"),),
        (POLICY + "test_a_threshold_of_one_is_an_exit_and_either_stream_alone_makes_the_encoder_exit",),
    ),
    Mutant(
        "decoder_threshold_of_one_disables_the_exit",
        "a decoder threshold of exactly 1 disables the decoder exit (no rule, not among the exiting parts)",
        (Edit("ofa_mue/core/exit_policy.py", "        return self.decoder <= 1.0\n",
              "        return self.decoder < 1.0\n"),),
        (POLICY + "test_a_threshold_of_one_is_an_exit_and_either_stream_alone_makes_the_encoder_exit",),
    ),
    Mutant(
        "mue_session_ignores_its_granularity",
        "MuE's exit session is built without the policy's --exit-granularity: step and auto run per token",
        (Edit("ofa_mue/core/exit_policy.py",
              "        return ExitSession(encoder_similarity_rules(self.image, self.text), decoder_rule, self.granularity)\n",
              "        return ExitSession(encoder_similarity_rules(self.image, self.text), decoder_rule)\n"),),
        (POLICY + "test_the_session_decodes_at_the_policys_granularity",),
    ),
    Mutant(
        "baseline_session_ignores_its_granularity",
        "the entropy and patience baselines build their sessions without --exit-granularity: step and auto "
        "run per token",
        (Edit("ofa_mue/core/exit_policy.py",
              "        return ExitSession(encoder_similarity_rules(self.image, self.text), decoder_rule, granularity)\n",
              "        return ExitSession(encoder_similarity_rules(self.image, self.text), decoder_rule)\n"),),
        (POLICY + "test_the_session_decodes_at_the_policys_granularity",),
    ),
    Mutant(
        "infinite_decay_rate_accepted",
        "--decoder-exit-tau inf is accepted: exp(-inf * 0 / N) is NaN, and the first token's threshold with it",
        (Edit("ofa_mue/core/exit_policy.py",
              "        if not (math.isfinite(self.decoder_tau) and self.decoder_tau >= 0.0):\n",
              "        if not (self.decoder_tau >= 0.0):\n"),),
        (POLICY + "test_out_of_range_options_are_clear_errors[decoder_tau-inf---decoder-exit-tau]",),
    ),
    Mutant(
        "static_depth_not_a_whole_number_accepted",
        "a static depth that is not a whole number (2.5) is accepted",
        (Edit("ofa_mue/core/exit_policy.py", "            if not isinstance(value, int) or value < 0:\n",
              "            if value < 0:\n"),),
        (POLICY + "test_static_depths_are_whole_numbers_within_their_own_parts_depth",),
    ),
    Mutant(
        "static_text_depth_checked_against_the_decoder",
        "--static-text-layers is checked against the decoder's depth instead of the encoder's (unseen where the "
        "two are equal)",
        (Edit("ofa_mue/core/exit_policy.py", '("--static-text-layers", self.text, "encoder", encoder_layers)',
              '("--static-text-layers", self.text, "encoder", decoder_layers)'),),
        (POLICY + "test_static_depths_are_whole_numbers_within_their_own_parts_depth",),
    ),
    Mutant(
        "static_depth_zero_stops_after_the_first_layer",
        "a static stream depth of 0 (every layer) gets a rule of depth 0, which stops the stream after its "
        "first layer",
        (Edit("ofa_mue/core/exit_policy.py",
              'for name, depth in (("image", self.image), ("text", self.text))\n                         if depth}',
              'for name, depth in (("image", self.image), ("text", self.text))\n                         if True}'),),
        (POLICY + "test_static_depths_are_whole_numbers_within_their_own_parts_depth",),
    ),
    Mutant(
        "baseline_image_threshold_unchecked",
        "the entropy and patience baselines accept any --image-exit-threshold (NaN included)",
        (Edit("ofa_mue/core/exit_policy.py",
              "    def __post_init__(self) -> None:\n        check_threshold(\"--image-exit-threshold\", self.image)\n"
              "        check_threshold(\"--text-exit-threshold\", self.text)\n\n",
              "    def __post_init__(self) -> None:\n        check_threshold(\"--text-exit-threshold\", self.text)\n\n"),),
        (POLICY + "test_the_baselines_refuse_out_of_range_encoder_thresholds",),
    ),
    Mutant(
        "entropy_of_the_layers_input",
        "DeeBERT's entropy exit judges the prediction of the layer's input instead of its output",
        (Edit("ofa_mue/core/exit_policy.py",
              "        probabilities = F.softmax(self.project(x_out, tokens).float(), dim=-1)\n",
              "        probabilities = F.softmax(self.project(x_in, tokens).float(), dim=-1)\n"),),
        (EDGES + "test_entropy_exit_judges_the_layers_output_and_takes_a_threshold_of_zero",),
    ),
    Mutant(
        "entropy_threshold_of_zero_refused",
        "--entropy-exit-threshold 0 refused, though the documented range is finite and at least 0",
        (Edit("ofa_mue/core/exit_policy.py", "math.isfinite(self.decoder) and self.decoder >= 0.0",
              "math.isfinite(self.decoder) and self.decoder > 0.0"),),
        (EDGES + "test_entropy_exit_judges_the_layers_output_and_takes_a_threshold_of_zero",),
    ),
    Mutant(
        "patience_kept_across_decoder_calls",
        "PABEE's counts are not reset at a new decoder call: a generation step goes on counting the previous "
        "step's unchanged predictions of the same token indices",
        (Edit("ofa_mue/core/exit_policy.py", "        if layer == 0:  # a new decoder call",
              "        if False:  # a new decoder call"),),
        (EDGES + "test_patience_counts_consecutive_layers_and_starts_afresh_at_each_decoder_call",),
    ),
    Mutant(
        "patience_counts_unchanged_layers_not_consecutive",
        "PABEE's count is kept (not reset) when a prediction changes: a token stops after `patience` unchanged "
        "layers in all, not consecutive",
        (Edit("ofa_mue/core/exit_policy.py", "self._count.get(token, 0) + 1 if same else 0\n",
              "self._count.get(token, 0) + 1 if same else self._count.get(token, 0)\n"),),
        (EDGES + "test_patience_counts_consecutive_layers_and_starts_afresh_at_each_decoder_call",),
    ),
    Mutant(
        "joint_encoder_ignores_exit_rules",
        "a joint (undecomposed) encoder given encoder exit rules runs every layer without a word",
        (Edit("models/encoder.py", "            if exit_rules:\n                raise ConfigError(",
              "            if False:\n                raise ConfigError("),),
        (DECOMPOSED + "test_encoder_exits_on_a_joint_encoder_are_refused",),
    ),
    Mutant(
        "encoder_penultimate_layer_untested",
        "no encoder exit test after the penultimate layer: a stream can never stop one layer before the last",
        (Edit("models/encoder.py", "        if exit_rule is None or index == len(layers) - 1:\n",
              "        if exit_rule is None or index >= len(layers) - 2:\n"),),
        (INFERENCE + "test_a_stream_stops_after_its_last_tested_layer_and_runs_no_test_after_the_last",),
    ),
    Mutant(
        "encoder_test_counted_after_the_last_layer",
        "a stream that runs every layer is recorded with an exit test after the last layer too (L, not L - 1): "
        "the FLOPs count charges a test never run",
        (Edit("models/encoder.py", "layers_used[name].clamp(max=self.num_layers - 1)",
              "layers_used[name].clamp(max=self.num_layers)"),),
        (INFERENCE + "test_a_stream_stops_after_its_last_tested_layer_and_runs_no_test_after_the_last",),
    ),
    Mutant(
        "text_length_not_capped_by_the_relative_table",
        "the encoder's max_positions is the larger of max_source_positions and the relative-position table",
        (Edit("models/encoder.py", "        return min(self.max_source_positions, self.token_rp_bucket.size(0))\n",
              "        return max(self.max_source_positions, self.token_rp_bucket.size(0))\n"),),
        (DECOMPOSED + "test_the_longest_text_is_capped_by_the_relative_position_table",),
    ),
    Mutant(
        "text_tokens_take_the_image_type_embedding",
        "the encoder's text tokens take type embedding row 1 (the patches') instead of OFA's row 0",
        (Edit("models/encoder.py", "            x = x + self.type_embedding.weight[0]\n",
              "            x = x + self.type_embedding.weight[1]\n"),),
        (ENCODER_INPUTS + "test_text_tokens_take_type_embedding_0_and_patches_type_1",),
    ),
    Mutant(
        "patch_grid_as_large_as_the_image_positions_refused",
        "images whose patch grid is exactly as large as the model's image positions (256 px for the demo's "
        "16 x 16) are refused as too large",
        (Edit("models/encoder.py", "        if height > self.image_bucket_size or width > self.image_bucket_size:\n",
              "        if height >= self.image_bucket_size or width >= self.image_bucket_size:\n"),),
        (ENCODER_INPUTS + "test_a_patch_grid_as_large_as_the_image_positions_is_accepted",),
    ),
    Mutant(
        "static_decoder_depth_zero_stops_after_the_first_layer",
        "a static decoder depth of 0 (every layer) gets a rule of depth 0, which stops every token after the "
        "decoder's first layer",
        (Edit("ofa_mue/core/exit_policy.py", "FixedTokenDepth(self.decoder) if self.decoder else None",
              "FixedTokenDepth(self.decoder)"),),
        (POLICY + "test_static_depths_are_whole_numbers_within_their_own_parts_depth",),
    ),
    Mutant(
        "image_stream_recorded_with_the_text_tokens",
        "the encoder records the image stream's token count from the text stream's padding: the time "
        "reduction weighs the image stream by the text's length",
        (Edit("models/encoder.py",
              "exit_session.record_stream(name, layers_used[name], (~streams[name][1]).sum(1), tests)",
              "exit_session.record_stream(name, layers_used[name], (~streams[order[-1]][1]).sum(1), tests)"),),
        (INFERENCE + "test_each_stream_records_its_own_non_padding_tokens",),
    ),
    Mutant(
        "encoder_runs_later_layers_on_an_empty_batch",
        "once every sample of an encoder stream has stopped, the later layers still run (on an empty batch), "
        "each costing its operator launches",
        (Edit("models/encoder.py", "            if running.numel() == 0:\n                break\n", ""),),
        (INFERENCE + "test_a_stream_whose_samples_all_stopped_runs_no_further_layer",),
    ),
    Mutant(
        "collated_batch_ids_are_positions_in_the_batch",
        "a batch's id holds each sample's position in the batch instead of its dataset index, so outputs "
        "of batches not in file order are matched to the wrong rows",
        (Edit("data/ofa_dataset.py",
              '"id": torch.tensor([s["id"] for s in samples], dtype=torch.long)',
              '"id": torch.arange(len(samples), dtype=torch.long)'),),
        ("tests/test_data_caption.py::test_batch_ids_follow_the_samples_not_their_position",),
    ),
    Mutant(
        "snli_ve_answers_not_in_ofa_order",
        "SNLI-VE candidates are scored in yes/no/maybe order instead of OFA's ans2label order no/yes/maybe, "
        "so an exact tie is decided differently from OFA",
        (Edit("data/snli_ve_dataset.py", 'ANSWERS = ("no", "yes", "maybe")', 'ANSWERS = ("yes", "no", "maybe")'),),
        (SNLI_DATA + "test_answer_candidates_keep_ofa_order",),
    ),
    Mutant(
        "snli_ve_padded_constraint_mask_rows_allow_everything",
        "collated SNLI-VE constraint masks pad shorter samples with rows that allow every token instead of none",
        (Edit("data/snli_ve_dataset.py", "padding_value=False)", "padding_value=True)"),),
        (SNLI_DATA + "test_collated_constraint_masks_allow_nothing_at_padding",),
    ),
    Mutant(
        "snli_ve_batch_without_split",
        "an SNLI-VE batch does not carry its split, so per-split generation accuracy cannot be tallied",
        (Edit("data/snli_ve_dataset.py", '            batch["split"] = self.split\n', ""),),
        (SNLI_DATA + "test_collater_batch",),
    ),
    Mutant(
        "tsv_row_index_equal_to_length_is_let_through",
        "reading the row one past the last is not refused with the reader's message naming the index and file",
        (Edit("data/tsv.py", "if not 0 <= index < len(self):", "if not 0 <= index <= len(self):"),),
        ("tests/test_data_tsv.py::test_rows_by_offset_in_any_order",),
    ),
    Mutant(
        "tsv_invalid_utf8_error_names_the_wrong_byte",
        "the invalid-UTF-8 error names the byte after the bad sequence instead of the bad byte's offset",
        (Edit("data/tsv.py", "byte {error.start}: {error.reason}", "byte {error.end}: {error.reason}"),),
        ("tests/test_data_tsv.py::test_invalid_utf8_names_row_and_field",),
    ),
    Mutant(
        "dataset_ignores_imagenet_default_mean_and_std",
        "the task datasets normalise patch images to [-1, 1] even with OFA's --imagenet-default-mean-and-std",
        (Edit("data/ofa_dataset.py",
              "image_transform(patch_image_size, imagenet_default_mean_and_std)",
              "image_transform(patch_image_size, False)"),),
        ("tests/test_data_caption.py::test_imagenet_default_mean_and_std_reaches_the_image_transform",),
    ),
    Mutant(
        "all_references_error_names_the_first_row",
        "an empty reference met by CaptionDataset.all_references is reported at row 1 instead of its own row",
        (Edit("data/caption_dataset.py",
              'yield self.references(index, self.reader[index]["caption"])',
              'yield self.references(0, self.reader[index]["caption"])'),),
        ("tests/test_data_caption.py::test_empty_reference_found_by_all_references_names_its_row",),
    ),
    Mutant(
        "tsv_missing_column_error_always_says_at_least",
        "a row missing a column of a file read without --selected-cols is said to need 'at least' its fields "
        "instead of exactly them",
        (Edit("data/tsv.py",
              "expected {'exactly' if self._exact else 'at least'} {needed}",
              "expected at least {needed}"),),
        ("tests/test_data_tsv.py::test_missing_column_names_file_row_and_field",),
    ),
    Mutant(
        "tsv_extra_field_error_omits_the_columns",
        "the error for a row with too many fields no longer lists the columns the file should have",
        (Edit("data/tsv.py", 'f"({\', \'.join(self.columns)})",', 'f"",'),),
        ("tests/test_data_tsv.py::test_extra_field_without_selection_is_an_error",),
    ),
    Mutant(
        "batching_by_tokens_alone_is_not_refused",
        "an OFA dataset asked to batch by --max-tokens alone fails with a bare TypeError instead of asking "
        "for --batch-size",
        (Edit("data/ofa_dataset.py", "        if not max_sentences:\n", "        if False:\n"),),
        ("tests/test_data_caption.py::test_batches_are_consecutive_runs_of_batch_size_rows",),
    ),
    Mutant(
        "resnet_stem_without_relu",
        "the image embedding's ResNet stem leaves out the ReLU between bn1 and the max pool (OFA's stem is "
        "maxpool(relu(bn1(conv1(x))))): every official checkpoint's image features change, no shape shows it",
        (Edit("models/image_embedding.py",
              "self.maxpool(self.relu(self.bn1(self.conv1(images))))",
              "self.maxpool(self.bn1(self.conv1(images)))"),),
        ("tests/test_ofa_layers.py::test_resnet_embedding_computes_ofas_resnet_stem_and_first_three_stages",),
    ),
    Mutant(
        "resnet_batch_norm_trains_only_when_frozen",
        "the ResNet's BatchNorm parameters get requires_grad = freeze_resnet instead of its negation: fine-tuning "
        "without --freeze-resnet never trains them, and --freeze-resnet trains them",
        (Edit("models/image_embedding.py",
              "module.requires_grad_(not frozen_batch_norm)",
              "module.requires_grad_(frozen_batch_norm)"),),
        ("tests/test_ofa_habits_model.py::test_the_resnet_is_initialised_as_ofas_and_its_batch_norm_trains_unless_frozen",),
    ),
    Mutant(
        "resnet_convolutions_kaiming_fan_in",
        "the ResNet's convolutions drawn from Kaiming's normal with mode fan_in instead of OFA's fan_out (the stem's "
        "weights 2.3 times larger): a model trained from scratch (the demo) starts elsewhere",
        (Edit("models/image_embedding.py", 'mode="fan_out"', 'mode="fan_in"'),),
        ("tests/test_ofa_habits_model.py::test_the_resnet_is_initialised_as_ofas_and_its_batch_norm_trains_unless_frozen",),
    ),
    Mutant(
        "resnet_with_two_stages_accepted",
        "a custom --resnet-type resnet:a,b (two stages) is accepted when built and fails only in the first "
        "forward pass (no layer3), instead of the error naming OFA's three stages",
        (Edit("models/image_embedding.py", "if len(stage_blocks) != 3:", "if len(stage_blocks) > 3:"),),
        ("tests/test_ofa_habits_model.py::test_a_resnet_without_exactly_three_stages_is_refused[resnet:1,1]",),
    ),
    Mutant(
        "resnet_batch_norm_in_eval_unless_frozen",
        "model.train() holds the ResNet's BatchNorm layers in eval mode when --freeze-resnet is off (and trains "
        "them when it is on): fine-tuning normalises images with the checkpoint's statistics and never updates them",
        (Edit("models/image_embedding.py", "        if self.frozen_batch_norm:\n", "        if not self.frozen_batch_norm:\n"),),
        ("tests/test_ofa_habits_model.py::test_training_mode_trains_the_resnets_batch_norm_unless_frozen",),
    ),
    Mutant(
        "residual_dropout_skipped_in_training",
        "the layers' residual-branch dropout and drop path run only in eval mode (where they are identities) "
        "instead of in training: --dropout and the drop path rates have no effect on fine-tuning",
        (Edit("models/layers.py",
              "        if self.training:\n            branch = self.drop_path(self.dropout(branch))\n",
              "        if not self.training:\n            branch = self.drop_path(self.dropout(branch))\n"),),
        ("tests/test_ofa_layers.py::test_residual_dropout_applies_in_training_and_scaled_residuals_start_at_one",),
    ),
    Mutant(
        "scaled_residuals_start_at_zero",
        "NormFormer's w_resid (--scale-resids) initialised to zeros instead of OFA's ones: a new layer's "
        "feed-forward block drops its residual stream",
        (Edit("models/layers.py", "nn.Parameter(torch.ones(opts.embed_dim))", "nn.Parameter(torch.zeros(opts.embed_dim))"),),
        ("tests/test_ofa_layers.py::test_residual_dropout_applies_in_training_and_scaled_residuals_start_at_one",),
    ),
    Mutant(
        "packed_tokens_self_attention_output_through_cross_attn_ln",
        "a decoder layer run on some tokens of multi-position rows (teacher forcing with exits) normalises the "
        "self-attention output with cross_attn_ln instead of self_attn_ln, unlike the full run",
        (Edit("models/layers.py",
              "_norm_if(self.self_attn_ln, self.self_attn.project_out(grid.pack(heads)))",
              "_norm_if(self.cross_attn_ln, self.self_attn.project_out(grid.pack(heads)))"),),
        ("tests/test_ofa_layers.py::test_a_decoder_layer_run_on_some_tokens_gives_them_the_full_runs_outputs_and_keeps_the_others",),
    ),
    Mutant(
        "packed_tokens_cross_queries_through_self_attn_layer_norm",
        "a decoder layer run on some tokens of multi-position rows takes its cross-attention queries from "
        "self_attn_layer_norm instead of encoder_attn_layer_norm, unlike the full run",
        (Edit("models/layers.py",
              "query = grid.spread(self.encoder_attn.q_proj(self.encoder_attn_layer_norm(y)))",
              "query = grid.spread(self.encoder_attn.q_proj(self.self_attn_layer_norm(y)))"),),
        ("tests/test_ofa_layers.py::test_a_decoder_layer_run_on_some_tokens_gives_them_the_full_runs_outputs_and_keeps_the_others",),
    ),
    Mutant(
        "cached_keys_after_the_new_ones",
        "a decoder layer returning its keys/values puts the new position's keys before the cached ones while the "
        "values stay cached-first: incremental decoding pairs each key with another position's value",
        (Edit("models/layers.py", "key = torch.cat([past_key_value[0], key], dim=2)",
              "key = torch.cat([key, past_key_value[0]], dim=2)"),),
        ("tests/test_ofa_layers.py::test_a_decoder_layer_run_incrementally_on_its_cache_gives_the_full_runs_outputs[True]",),
    ),
    Mutant(
        "cached_keys_after_the_new_ones_without_a_cache_to_fill",
        "the same in a decoder layer that returns no keys/values (return_key_value=False): new keys before the "
        "cached ones, values cached-first",
        (Edit("models/layers.py", "key = torch.cat([pick(past_key_value[0]), key], dim=2)",
              "key = torch.cat([key, pick(past_key_value[0])], dim=2)"),),
        ("tests/test_ofa_layers.py::test_a_decoder_layer_run_incrementally_on_its_cache_gives_the_full_runs_outputs[False]",),
    ),
    Mutant(
        "returned_keys_and_values_swapped",
        "a decoder layer returns its new (value, key) for the cache instead of (key, value): the next step "
        "attends with values as keys",
        (Edit("models/layers.py", "Optional[tuple[Tensor, Tensor]] = (key, value)",
              "Optional[tuple[Tensor, Tensor]] = (value, key)"),),
        ("tests/test_ofa_layers.py::test_a_decoder_layer_run_incrementally_on_its_cache_gives_the_full_runs_outputs[True]",),
    ),
    Mutant(
        "post_ln_decoder_accepted_when_the_encoder_is_pre_ln",
        "--no-decoder-normalize-before alone is accepted (the check needs both pre-LN options off) and the "
        "decoder silently computes pre-LN layers",
        (Edit("models/ofa.py", "if not (args.encoder_normalize_before and args.decoder_normalize_before):",
              "if not (args.encoder_normalize_before or args.decoder_normalize_before):"),),
        ("tests/test_ofa_habits_model.py::test_turning_off_one_required_option_alone_is_refused[decoder_normalize_before]",),
    ),
    Mutant(
        "untied_output_projection_accepted",
        "--no-share-decoder-input-output-embed alone is accepted (the check needs both sharing options off) and "
        "the output projection stays tied to the token embedding",
        (Edit("models/ofa.py", "if not (args.share_all_embeddings and args.share_decoder_input_output_embed):",
              "if not (args.share_all_embeddings or args.share_decoder_input_output_embed):"),),
        ("tests/test_ofa_habits_model.py::test_turning_off_one_required_option_alone_is_refused[share_decoder_input_output_embed]",),
    ),
    Mutant(
        "scst_reward_keeps_punctuation",
        "the SCST reward (a scorer with an end word) scores the captions and references with their punctuation "
        "(OFA's scst_loss removes it before appending <eos>): 'dog.' never matches 'dog'",
        (Edit("criterions/cider_reward.py",
              'return f"{words} {end_word}" if end_word else words',
              'return f"{text} {end_word}" if end_word else words'),),
        (f"{SCST}test_scst_reward_tokenises_as_ofas_scst_loss_before_ending_with_eos",),
    ),
    Mutant(
        "cider_scores_of_fewer_reference_lists_truncated",
        "CIDEr-D given fewer reference lists than captions scores only the first captions (zip truncates) "
        "instead of refusing",
        (Edit("criterions/cider_reward.py", "if len(hypotheses) != len(references):", "if False:"),),
        (f"{SCST}test_cider_d_refuses_captions_and_reference_lists_of_other_counts",),
    ),
    Mutant(
        "layer_weights_too_few_accepted",
        "--layer-weights with fewer values than decoder layers is accepted: the last layers (the model's own "
        "output among them) get no loss and are silently left untrained",
        (Edit("criterions/layerwise.py", "    if len(weights) != num_layers:\n", "    if len(weights) > num_layers:\n"),),
        (LAYERWISE + "test_fewer_layer_weights_than_decoder_layers_are_refused",),
    ),
    Mutant(
        "ensemble_of_decomposed_and_plain_encoders_accepted",
        "an ensemble mixing a modality-decomposed encoder with a plain one of the same depths and widths is "
        "accepted, its layers and FLOPs counted with one model's encoder layout",
        (Edit("ofa_mue/core/early_exit_generator.py",
              "model.encoder.layers[0].fc1.out_features, bool(model.encoder.decompose_modalities))",
              "model.encoder.layers[0].fc1.out_features, True)"),),
        (f"{INFERENCE}test_an_ensemble_of_decomposed_and_plain_encoders_is_refused",),
    ),
    Mutant(
        "ngram_block_skips_prefixes_one_ngram_wide",
        "n-gram blocking of rows of different lengths blocks nothing when the prefix is exactly one n-gram "
        "wide, though a row holding that n-gram must not repeat it",
        (Edit("ofa_mue/core/early_exit_generator.py", "        if prefix.size(1) < size:\n",
              "        if prefix.size(1) <= size:\n"),),
        ("tests/test_lossless_decoding.py::test_ngram_blocking_of_rows_one_ngram_long_blocks_their_repeat",),
    ),
    Mutant(
        "predict_generation_option_zero_ignored",
        "predict --no-repeat-ngram-size 0 (or another generation option given as 0) is taken as not given: "
        "the captions still block repeated 3-grams",
        (Edit("ofa_mue/predict.py", "if getattr(args, name) is not None}}", "if getattr(args, name)}}"),),
        ("tests/test_predict.py::test_generation_options_given_as_zero_are_honoured",),
    ),
    Mutant(
        "predict_task_options_absent_from_checkpoint_ignored",
        "predict leaves a task option the checkpoint never saved (one newer than it) at its default: fairseq's "
        "overrides set only saved options, so e.g. --decoder-exit-threshold silently runs the full decoder",
        (Edit("ofa_mue/predict.py", "            task.cfg[option] = value\n", "            pass\n"),),
        ("tests/test_predict.py::test_task_options_a_checkpoint_never_saved_are_honoured",),
    ),
    Mutant(
        "predict_snli_ve_compare_full_runs_the_exits",
        "predict --compare-full on an SNLI-VE checkpoint scores the full model's answer with the exits' "
        "session, so the answer printed as the full model's is the exits' own",
        (Edit("ofa_mue/predict.py",
              "full = self.task.predict(self.models[0], sample) if compare_full else None",
              "full = self.task.predict(self.models[0], sample, self.task.exit_session(self.models[0], sample)) "
              "if compare_full else None"),),
        ("tests/test_predict.py::test_compare_full_scores_the_answers_with_the_whole_decoder",),
    ),
    Mutant(
        "envelope_end_without_tolerance_above",
        "a reduction equal to the largest static reduction up to float rounding (0.1 + 0.2 against 0.3) "
        "is called outside the static range",
        (Edit("ofa_mue/envelope.py",
              "x > hull[-1][0] + TOLERANCE:",
              "x > hull[-1][0]:"),),
        ("tests/test_reproduce.py::test_a_reduction_at_the_ends_of_the_static_range_up_to_rounding_is_inside_it",),
    ),
    Mutant(
        "envelope_end_without_tolerance_below",
        "a reduction a rounding error below the full model's 0 is called outside the static range",
        (Edit("ofa_mue/envelope.py",
              "x < hull[0][0] - TOLERANCE or",
              "x < hull[0][0] or"),),
        ("tests/test_reproduce.py::test_a_reduction_at_the_ends_of_the_static_range_up_to_rounding_is_inside_it",),
    ),
    Mutant(
        "envelope_reduction_not_clamped_to_the_hull",
        "a reduction within rounding of the largest static one is not clamped onto the hull: no segment "
        "holds it and the envelope fails",
        (Edit("ofa_mue/envelope.py",
              "    x = min(max(x, hull[0][0]), hull[-1][0])\n",
              ""),),
        ("tests/test_reproduce.py::test_a_reduction_at_the_ends_of_the_static_range_up_to_rounding_is_inside_it",),
    ),
    Mutant(
        "hull_keeps_points_on_a_segment",
        "the upper hull keeps a point lying on the segment between two others as a vertex (the envelope "
        "then mixes other depths than its vertices')",
        (Edit("ofa_mue/envelope.py",
              "_cross(hull[-2], hull[-1], point) >= 0:",
              "_cross(hull[-2], hull[-1], point) > 0:"),),
        ("tests/test_reproduce.py::test_a_setting_on_the_segment_between_two_others_is_no_vertex_of_the_hull",),
    ),
    Mutant(
        "flops_summary_sums_instead_of_means",
        "the FLOPs summary reports the sum over the split's examples as GFLOPs per example",
        (Edit("ofa_mue/core/flops.py",
              "sum(c[part] for c in counts) / len(counts) / 1e9",
              "sum(c[part] for c in counts) / 1e9"),),
        (FLOPS + "test_the_summary_gives_means_per_example_by_part_as_run_and_at_full_depth",),
    ),
    Mutant(
        "flops_full_depth_parts_as_run",
        "the FLOPs summary's full-depth GFLOPs by part are the parts as run",
        (Edit("ofa_mue/core/flops.py",
              "\"full_depth_parts_gflops\": {part: full_mean[part] for part in PARTS}",
              "\"full_depth_parts_gflops\": {part: used_mean[part] for part in PARTS}"),),
        (FLOPS + "test_the_summary_gives_means_per_example_by_part_as_run_and_at_full_depth",),
    ),
    Mutant(
        "flops_of_no_examples_not_refused",
        "the FLOPs summary of no examples fails with a division by zero instead of its one-line refusal",
        (Edit("ofa_mue/core/flops.py",
              "    if not examples:\n        raise ValueError(\"FLOPs of an empty set of examples\")\n",
              ""),),
        (FLOPS + "test_the_summary_gives_means_per_example_by_part_as_run_and_at_full_depth",),
    ),
    Mutant(
        "candidates_with_an_empty_item_refused",
        "calibrate refuses --candidates with an empty item (a trailing comma) instead of skipping it",
        (Edit("ofa_mue/calibrate.py",
              "for value in text.split(\",\") if value.strip()]",
              "for value in text.split(\",\")]"),),
        (EDGES + "test_empty_candidate_items_are_skipped_and_an_empty_list_is_refused",),
    ),
    Mutant(
        "candidates_empty_list_accepted",
        "calibrate accepts an empty --*-candidates list (the knob then only stays off) instead of "
        "refusing it",
        (Edit("ofa_mue/calibrate.py",
              "    if not values or any(",
              "    if any("),),
        (EDGES + "test_empty_candidate_items_are_skipped_and_an_empty_list_is_refused",),
    ),
    Mutant(
        "certified_binary_p_value_for_every_loss",
        "the certified calibration takes every loss as 0/1 (exact binomial p-value): --loss cider, in [0,"
        " 1], is refused mid-run",
        (Edit("ofa_mue/calibrate.py",
              "epsilon, delta, loss in BINARY_LOSSES,",
              "epsilon, delta, True,"),),
        (RETENTION + "test_a_loss_in_zero_one_gets_hoeffding_bentkus_and_a_rouge_cut_off_is_honoured",),
    ),
    Mutant(
        "certified_rouge_cutoff_not_passed_on",
        "--loss rouge --rouge-cutoff C is accepted but the profile's choice uses the default cut-off 0.8",
        (Edit("ofa_mue/calibrate.py",
              "loss_options = {\"rouge_cutoff\": options[\"rouge_cutoff\"]} if options[\"loss\"] == \"rouge\" else {}",
              "loss_options = {}"),),
        (RETENTION + "test_a_loss_in_zero_one_gets_hoeffding_bentkus_and_a_rouge_cut_off_is_honoured",),
    ),
    Mutant(
        "profile_metric_name_always_accuracy",
        "a caption profile names its metric accuracy instead of cider",
        (Edit("ofa_mue/calibrate.py",
              "\"metric_name\": MAIN_METRIC[context[\"task\"]],",
              "\"metric_name\": \"accuracy\","),),
        (RETENTION + "test_a_loss_in_zero_one_gets_hoeffding_bentkus_and_a_rouge_cut_off_is_honoured",),
    ),
    Mutant(
        "bentkus_count_without_rounding_guard",
        "the Bentkus term counts ceil(n * mean) without rounding away float error: 200 losses of 1 - 0.99"
        " (2 in all) count as 3",
        (Edit("ofa_mue/core/risk_control.py",
              "np.ceil(np.round(n * mean, 9))",
              "np.ceil(n * mean)"),),
        (RETENTION + "test_a_loss_in_zero_one_gets_hoeffding_bentkus_and_a_rouge_cut_off_is_honoured",),
    ),
    Mutant(
        "certified_split_seed_ignored",
        "--seed is recorded as the guarantee's split seed but the learn/test split is always drawn with "
        "seed 0",
        (Edit("ofa_mue/calibrate.py",
              "procedure, learn_fraction, np.random.default_rng(seed))",
              "procedure, learn_fraction, np.random.default_rng(0))"),),
        (RETENTION + "test_the_guarantee_records_the_test_that_the_seed_learn_fraction_and_procedure_ran",),
    ),
    Mutant(
        "certified_learn_fraction_ignored",
        "--learn-fraction is accepted but fixed-sequence testing always learns on 0.3 of the rows",
        (Edit("ofa_mue/calibrate.py",
              "procedure, learn_fraction, np.random.default_rng(seed))",
              "procedure, 0.3, np.random.default_rng(seed))"),),
        (RETENTION + "test_the_guarantee_records_the_test_that_the_seed_learn_fraction_and_procedure_ran",),
    ),
    Mutant(
        "guarantee_calibration_rows_are_the_test_rows",
        "the guarantee records the fixed sequence's testing rows as the calibration rows",
        (Edit("ofa_mue/calibrate.py",
              "\"calibration_rows\": len(table.rows),",
              "\"calibration_rows\": certification.test_rows,"),),
        (RETENTION + "test_the_guarantee_records_the_test_that_the_seed_learn_fraction_and_procedure_ran",),
    ),
    Mutant(
        "guarantee_procedure_always_fixed_sequence",
        "a Bonferroni calibration's guarantee says fixed-sequence",
        (Edit("ofa_mue/calibrate.py",
              "\"multiple_testing\": procedure,",
              "\"multiple_testing\": \"fixed-sequence\","),),
        (RETENTION + "test_the_guarantee_records_the_test_that_the_seed_learn_fraction_and_procedure_ran",),
    ),
    Mutant(
        "guarantee_configurations_count_the_full_model",
        "the guarantee counts one configuration more than were candidates",
        (Edit("ofa_mue/calibrate.py",
              "\"configurations\": len(configurations),",
              "\"configurations\": len(configurations) + 1,"),),
        (RETENTION + "test_the_guarantee_records_the_test_that_the_seed_learn_fraction_and_procedure_ran",),
    ),
    Mutant(
        "guarantee_tested_counts_every_configuration",
        "the guarantee says every configuration was tested though the fixed sequence stopped at the first"
        " failure",
        (Edit("ofa_mue/calibrate.py",
              "\"configurations_tested\": len(certification.p_values),",
              "\"configurations_tested\": len(configurations),"),),
        (RETENTION + "test_the_guarantee_records_the_test_that_the_seed_learn_fraction_and_procedure_ran",),
    ),
    Mutant(
        "guarantee_level_is_delta",
        "a Bonferroni guarantee records delta as the test level instead of delta / K",
        (Edit("ofa_mue/calibrate.py",
              "\"test_level\": certification.level,",
              "\"test_level\": delta,"),),
        (RETENTION + "test_the_guarantee_records_the_test_that_the_seed_learn_fraction_and_procedure_ran",),
    ),
    Mutant(
        "guarantee_p_value_kind_inverted",
        "the guarantee calls a 0/1 loss's exact binomial p-value Hoeffding-Bentkus",
        (Edit("ofa_mue/calibrate.py",
              "\"p_value_kind\": \"binomial\" if loss in BINARY_LOSSES else",
              "\"p_value_kind\": \"binomial\" if loss not in BINARY_LOSSES else"),),
        (RETENTION + "test_the_guarantee_records_the_test_that_the_seed_learn_fraction_and_procedure_ran",),
    ),
    Mutant(
        "calibration_default_epsilon_0_1",
        "calibrate's default --risk-epsilon is 0.1 instead of the documented 0.05",
        (Edit("ofa_mue/calibrate.py",
              "defaults = {\"risk_epsilon\": 0.05, \"risk_delta\": 0.1,",
              "defaults = {\"risk_epsilon\": 0.1, \"risk_delta\": 0.1,"),),
        (EDGES + "test_unset_calibration_options_take_their_documented_defaults[snli_ve]",
         EDGES + "test_unset_calibration_options_take_their_documented_defaults[caption]",),
    ),
    Mutant(
        "calibration_default_delta_0_05",
        "calibrate's default --risk-delta is 0.05 instead of the documented 0.1",
        (Edit("ofa_mue/calibrate.py",
              "defaults = {\"risk_epsilon\": 0.05, \"risk_delta\": 0.1,",
              "defaults = {\"risk_epsilon\": 0.05, \"risk_delta\": 0.05,"),),
        (EDGES + "test_unset_calibration_options_take_their_documented_defaults[snli_ve]",
         EDGES + "test_unset_calibration_options_take_their_documented_defaults[caption]",),
    ),
    Mutant(
        "calibration_default_bonferroni",
        "calibrate's default --multiple-testing is bonferroni instead of the documented fixed-sequence",
        (Edit("ofa_mue/calibrate.py",
              "                \"multiple_testing\": \"fixed-sequence\"}",
              "                \"multiple_testing\": \"bonferroni\"}"),),
        (EDGES + "test_unset_calibration_options_take_their_documented_defaults[snli_ve]",
         EDGES + "test_unset_calibration_options_take_their_documented_defaults[caption]",),
    ),
    Mutant(
        "calibration_default_learn_fraction_0_5",
        "calibrate's default --learn-fraction is 0.5 instead of the documented 0.3",
        (Edit("ofa_mue/calibrate.py",
              "args.learn_fraction = 0.3 if args.learn_fraction is None",
              "args.learn_fraction = 0.5 if args.learn_fraction is None"),),
        (EDGES + "test_unset_calibration_options_take_their_documented_defaults[snli_ve]",
         EDGES + "test_unset_calibration_options_take_their_documented_defaults[caption]",),
    ),
    Mutant(
        "calibration_default_retention_0_9",
        "calibrate --method retention's default --retention is 0.9 instead of the documented 0.99",
        (Edit("ofa_mue/calibrate.py",
              "args.retention = 0.99 if args.retention is None",
              "args.retention = 0.9 if args.retention is None"),),
        (EDGES + "test_unset_calibration_options_take_their_documented_defaults[snli_ve]",
         EDGES + "test_unset_calibration_options_take_their_documented_defaults[caption]",),
    ),
    Mutant(
        "calibration_default_snli_loss_label",
        "calibrate's default SNLI-VE loss is label instead of the documented consistency",
        (Edit("ofa_mue/calibrate.py",
              "\"loss\": default_loss(args.task),",
              "\"loss\": \"label\" if args.task == \"snli_ve\" else default_loss(args.task),"),),
        (EDGES + "test_unset_calibration_options_take_their_documented_defaults[snli_ve]",),
    ),
    Mutant(
        "calibration_options_drop_the_seed",
        "the certified calibration's options carry seed 0 instead of --seed",
        (Edit("ofa_mue/calibrate.py",
              "for name in LTT_OPTIONS}, \"seed\": args.seed}",
              "for name in LTT_OPTIONS}, \"seed\": 0}"),),
        (EDGES + "test_unset_calibration_options_take_their_documented_defaults[snli_ve]",
         EDGES + "test_unset_calibration_options_take_their_documented_defaults[caption]",),
    ),
    Mutant(
        "calibration_options_drop_the_retention",
        "--method retention --retention R is accepted but the choice keeps 0.99",
        (Edit("ofa_mue/calibrate.py",
              "return {\"method\": \"retention\", \"retention\": args.retention}",
              "return {\"method\": \"retention\", \"retention\": 0.99}"),),
        (EDGES + "test_unset_calibration_options_take_their_documented_defaults[snli_ve]",
         EDGES + "test_unset_calibration_options_take_their_documented_defaults[caption]",),
    ),
    Mutant(
        "rouge_cutoff_accepted_for_another_loss",
        "--rouge-cutoff with another --loss than rouge is accepted and ignored",
        (Edit("ofa_mue/calibrate.py",
              "if args.rouge_cutoff is not None and args.loss != \"rouge\":",
              "if False:"),),
        (EDGES + "test_a_rouge_cut_off_defaults_to_0_8_takes_1_and_is_refused_for_another_loss",),
    ),
    Mutant(
        "rouge_cutoff_without_default",
        "--loss rouge without --rouge-cutoff leaves the cut-off unset instead of the documented 0.8",
        (Edit("ofa_mue/calibrate.py",
              "    if args.loss == \"rouge\" and args.rouge_cutoff is None:\n"
              "        args.rouge_cutoff = DEFAULT_ROUGE_CUTOFF\n",
              ""),),
        (EDGES + "test_a_rouge_cut_off_defaults_to_0_8_takes_1_and_is_refused_for_another_loss",),
    ),
    Mutant(
        "rouge_cutoff_of_one_refused",
        "--rouge-cutoff 1 is refused though the documented range is (0, 1]",
        (Edit("ofa_mue/calibrate.py",
              "if args.loss == \"rouge\" and not 0.0 < args.rouge_cutoff <= 1.0:",
              "if args.loss == \"rouge\" and not 0.0 < args.rouge_cutoff < 1.0:"),),
        (EDGES + "test_a_rouge_cut_off_defaults_to_0_8_takes_1_and_is_refused_for_another_loss",),
    ),
    Mutant(
        "certified_grid_tests_the_full_model",
        "the certified calibration tests the full model as a configuration (counted in K)",
        (Edit("ofa_mue/calibrate.py",
              "configurations = [c for c in grid if c != FULL_MODEL]",
              "configurations = list(grid)"),),
        (EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[fixed_sequence]",
         EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[bonferroni]",),
    ),
    Mutant(
        "profile_epsilon_and_delta_swapped",
        "choose_profile passes --risk-delta as epsilon and --risk-epsilon as delta",
        (Edit("ofa_mue/calibrate.py",
              "options[\"risk_epsilon\"],\n                                    options[\"risk_delta\"],",
              "options[\"risk_delta\"],\n                                    options[\"risk_epsilon\"],"),),
        (EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[fixed_sequence]",
         EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[bonferroni]",),
    ),
    Mutant(
        "profile_procedure_always_fixed_sequence",
        "choose_profile runs fixed-sequence testing whatever --multiple-testing says",
        (Edit("ofa_mue/calibrate.py",
              "options[\"multiple_testing\"], options[\"learn_fraction\"],",
              "\"fixed-sequence\", options[\"learn_fraction\"],"),),
        (EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[bonferroni]",),
    ),
    Mutant(
        "profile_split_seed_0",
        "choose_profile draws the learn/test split with seed 0 whatever --seed says",
        (Edit("ofa_mue/calibrate.py",
              "                                    options[\"seed\"], **loss_options)",
              "                                    0, **loss_options)"),),
        (EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[fixed_sequence]",),
    ),
    Mutant(
        "profile_decay_beta_is_tau",
        "the exit profile records the decoder's decay tau as its beta",
        (Edit("ofa_mue/calibrate.py",
              "\"decoder_exit_beta\": context[\"decoder_exit_beta\"],",
              "\"decoder_exit_beta\": context[\"decoder_exit_tau\"],"),),
        (EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[fixed_sequence]",
         EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[bonferroni]",),
    ),
    Mutant(
        "profile_decay_tau_is_beta",
        "the exit profile records the decoder's decay beta as its tau",
        (Edit("ofa_mue/calibrate.py",
              "\"decoder_exit_tau\": context[\"decoder_exit_tau\"], **table_granularity(table)}",
              "\"decoder_exit_tau\": context[\"decoder_exit_beta\"], **table_granularity(table)}"),),
        (EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[fixed_sequence]",
         EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[bonferroni]",),
    ),
    Mutant(
        "profile_without_granularity",
        "the exit profile does not record the exit granularity the table was evaluated with",
        (Edit("ofa_mue/calibrate.py",
              ", **table_granularity(table)},\n",
              "},\n"),),
        (EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[fixed_sequence]",
         EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[bonferroni]",),
    ),
    Mutant(
        "profile_without_calibration_batch_size",
        "the exit profile does not record the batch size the table was evaluated at",
        (Edit("ofa_mue/calibrate.py",
              "    if \"batch_size\" in table.evaluation:  # under step",
              "    if False:  # under step"),),
        (EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[fixed_sequence]",
         EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[bonferroni]",),
    ),
    Mutant(
        "profile_step_quantile_default_0_5",
        "a step table evaluated without --exit-step-quantile is recorded at quantile 0.5 instead of 1",
        (Edit("ofa_mue/calibrate.py",
              "task_options.get(\"exit_step_quantile\") or 1.0)",
              "task_options.get(\"exit_step_quantile\") or 0.5)"),),
        (EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[fixed_sequence]",
         EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[bonferroni]",),
    ),
    Mutant(
        "profile_split_always_valid",
        "the exit profile names the valid split whatever split it was calibrated on",
        (Edit("ofa_mue/calibrate.py",
              "\"split\": context[\"split\"], \"method\": options[\"method\"]",
              "\"split\": \"valid\", \"method\": options[\"method\"]"),),
        (EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[fixed_sequence]",
         EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[bonferroni]",),
    ),
    Mutant(
        "profile_settings_evaluated_off_by_one",
        "the exit profile counts one setting fewer than were evaluated",
        (Edit("ofa_mue/calibrate.py",
              "\"settings_evaluated\": len(grid)}",
              "\"settings_evaluated\": len(grid) - 1}"),),
        (EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[fixed_sequence]",
         EDGES + "test_a_certified_profile_records_what_it_was_chosen_with[bonferroni]",),
    ),
    Mutant(
        "profile_target_retention_0_99",
        "a retention profile records 0.99 as its target whatever --retention was",
        (Edit("ofa_mue/calibrate.py",
              "profile[\"target_retention\"], profile[\"guarantee\"] = options[\"retention\"], None",
              "profile[\"target_retention\"], profile[\"guarantee\"] = 0.99, None"),),
        (EDGES + "test_a_retention_profile_records_its_target_and_a_token_granularity_by_default",),
    ),
    Mutant(
        "profile_old_table_granularity_step",
        "a table made before the key held the granularity is recorded as step instead of token",
        (Edit("ofa_mue/calibrate.py",
              "task_options.get(\"exit_granularity\") or \"token\",",
              "task_options.get(\"exit_granularity\") or \"step\","),),
        (EDGES + "test_a_retention_profile_records_its_target_and_a_token_granularity_by_default",),
    ),
    Mutant(
        "default_table_path_keeps_the_extension",
        "without --table-path the table goes to PROFILE.json.table.json.gz instead of "
        "PROFILE.table.json.gz",
        (Edit("ofa_mue/calibrate.py",
              "return f\"{os.path.splitext(profile_path)[0]}.table.json.gz\"",
              "return f\"{profile_path}.table.json.gz\""),),
        (EDGES + "test_a_retention_profile_records_its_target_and_a_token_granularity_by_default",),
    ),
    Mutant(
        "calibration_levels_of_one_accepted",
        "calibrate accepts --risk-epsilon, --risk-delta or --learn-fraction 1 with the arguments (refused"
        " only after the whole grid is evaluated)",
        (Edit("ofa_mue/calibrate.py",
              "        if not 0.0 < getattr(args, name) < 1.0:",
              "        if not 0.0 < getattr(args, name) <= 1.0:"),),
        (EDGES + "test_a_level_or_learn_fraction_of_0_or_1_is_refused_before_any_work[one-epsilon]",
         EDGES + "test_a_level_or_learn_fraction_of_0_or_1_is_refused_before_any_work[one-delta]",
         EDGES + "test_a_level_or_learn_fraction_of_0_or_1_is_refused_before_any_work[one-learn_fraction]",),
    ),
    Mutant(
        "calibration_epsilon_range_unchecked",
        "calibrate does not check --risk-epsilon is in (0, 1) with the arguments",
        (Edit("ofa_mue/calibrate.py",
              "for name in (\"risk_epsilon\", \"risk_delta\", \"learn_fraction\"):",
              "for name in (\"risk_delta\", \"learn_fraction\"):"),),
        (EDGES + "test_a_level_or_learn_fraction_of_0_or_1_is_refused_before_any_work[zero-epsilon]",
         EDGES + "test_a_level_or_learn_fraction_of_0_or_1_is_refused_before_any_work[one-epsilon]",),
    ),
    Mutant(
        "calibration_learn_fraction_range_unchecked",
        "calibrate does not check --learn-fraction is in (0, 1) with the arguments",
        (Edit("ofa_mue/calibrate.py",
              "for name in (\"risk_epsilon\", \"risk_delta\", \"learn_fraction\"):",
              "for name in (\"risk_epsilon\", \"risk_delta\"):"),),
        (EDGES + "test_a_level_or_learn_fraction_of_0_or_1_is_refused_before_any_work[zero-learn_fraction]",
         EDGES + "test_a_level_or_learn_fraction_of_0_or_1_is_refused_before_any_work[one-learn_fraction]",),
    ),
    Mutant(
        "risk_levels_of_0_and_1_accepted",
        "Learn-then-Test accepts epsilon or delta of 0 or 1 (outside (0, 1))",
        (Edit("ofa_mue/core/risk_control.py",
              "    if not 0.0 < value < 1.0:\n        raise ValueError(f\"{name} must",
              "    if not 0.0 <= value <= 1.0:\n        raise ValueError(f\"{name} must"),),
        (RISK + "test_certify_refuses_what_the_guarantee_does_not_cover",),
    ),
    Mutant(
        "certify_without_level_checks",
        "certify does not check epsilon and delta are in (0, 1)",
        (Edit("ofa_mue/core/risk_control.py",
              "    _check_level(\"epsilon\", epsilon)\n"
              "    _check_level(\"delta\", delta)\n"
              "    configurations, rows",
              "    configurations, rows"),),
        (RISK + "test_certify_refuses_what_the_guarantee_does_not_cover",),
    ),
    Mutant(
        "certify_reductions_of_another_shape",
        "certify accepts time reductions of another shape than the losses",
        (Edit("ofa_mue/core/risk_control.py",
              "if losses.ndim != 2 or losses.shape != reductions.shape or losses.size == 0:",
              "if losses.ndim != 2 or losses.size == 0:"),),
        (RISK + "test_certify_refuses_what_the_guarantee_does_not_cover",),
    ),
    Mutant(
        "certify_unknown_procedure_returns_nothing",
        "certify returns nothing for an unknown multiple-testing procedure instead of refusing it",
        (Edit("ofa_mue/core/risk_control.py",
              "        raise ValueError(f\"unknown multiple-testing procedure",
              "        return None\n        raise ValueError(f\"unknown multiple-testing procedure"),),
        (RISK + "test_certify_refuses_what_the_guarantee_does_not_cover",),
    ),
    Mutant(
        "certify_split_without_learning_rows",
        "fixed-sequence testing accepts a learn fraction that leaves no learning row",
        (Edit("ofa_mue/core/risk_control.py",
              "        if not 0 < learn_rows < rows:\n",
              "        if not 0 <= learn_rows <= rows:\n"),),
        (RISK + "test_certify_refuses_what_the_guarantee_does_not_cover",),
    ),
    Mutant(
        "certify_learn_rows_rounded_down",
        "the learning rows are the learn fraction of the rows rounded down, not to the nearest (3 rows at"
        " 0.3: none, refused)",
        (Edit("ofa_mue/core/risk_control.py",
              "learn_rows = int(round(learn_fraction * rows))",
              "learn_rows = int(learn_fraction * rows)"),),
        (RISK + "test_certify_refuses_what_the_guarantee_does_not_cover",),
    ),
    Mutant(
        "p_value_of_losses_outside_0_1",
        "a p-value is computed for losses outside [0, 1] or not finite, where it is not valid",
        (Edit("ofa_mue/core/risk_control.py",
              "if np.any((losses < 0.0) | (losses > 1.0)) or not np.all(np.isfinite(losses)):",
              "if not np.all(np.isfinite(losses)):"),),
        (RISK + "test_certify_refuses_what_the_guarantee_does_not_cover",),
    ),
    Mutant(
        "p_value_of_no_rows",
        "a p-value is computed from no calibration rows instead of refused",
        (Edit("ofa_mue/core/risk_control.py",
              "    if losses.size == 0:\n        raise ValueError(\"a p-value needs",
              "    if False:\n        raise ValueError(\"a p-value needs"),),
        (RISK + "test_certify_refuses_what_the_guarantee_does_not_cover",),
    ),
    Mutant(
        "fixed_sequence_ordered_by_every_rows_reductions",
        "the fixed sequence's order uses the time reductions of every row, testing rows included, not the"
        " learning rows only",
        (Edit("ofa_mue/core/risk_control.py",
              "path = pareto_path(losses[:, learn].mean(axis=1), reductions[:, learn].mean(axis=1))",
              "path = pareto_path(losses[:, learn].mean(axis=1), mean_reductions)"),),
        (RISK + "test_the_learning_rows_order_the_tests_and_every_row_weighs_the_choice",),
    ),
    Mutant(
        "certified_choice_by_the_first_rows_reduction",
        "among certified configurations the choice goes by the first row's time reduction, not the mean "
        "over the rows",
        (Edit("ofa_mue/core/risk_control.py",
              "most_reduction(allowed, mean_reductions), certified, p_values)",
              "most_reduction(allowed, reductions[:, :1].mean(axis=1)), certified, p_values)"),),
        (RISK + "test_the_learning_rows_order_the_tests_and_every_row_weighs_the_choice",),
    ),
    Mutant(
        "bonferroni_test_rows_off_by_one",
        "Bonferroni's certification reports one test row fewer than the rows it tested on",
        (Edit("ofa_mue/core/risk_control.py",
              "        learn_rows, test_rows = 0, rows\n",
              "        learn_rows, test_rows = 0, rows - 1\n"),),
        (RISK + "test_the_learning_rows_order_the_tests_and_every_row_weighs_the_choice",),
    ),
    Mutant(
        "rows_needed_rejects_a_p_value_equal_to_the_level",
        "rows_needed counts a p-value equal to the level as failing, though certify rejects at p <= level",
        (Edit("ofa_mue/core/risk_control.py",
              "failing = np.flatnonzero(p_values > delta / tests)",
              "failing = np.flatnonzero(p_values >= delta / tests)"),),
        (RISK + "test_rows_needed_counts_a_p_value_equal_to_the_level_as_passing",),
    ),
    Mutant(
        "target_dictionary_of_another_size_accepted",
        "a task whose target dictionary has another size than its source dictionary builds a model: the tied "
        "output projection has the source dictionary's rows, so each predicted row is read as another symbol",
        (Edit("models/ofa.py",
              "if task.target_dictionary is not dictionary and len(task.target_dictionary) != len(dictionary):",
              "if False:"),),
        (OFA_MODEL_HABITS + "test_a_target_dictionary_of_another_size_than_the_source_is_refused",),
    ),
    Mutant(
        "non_strict_load_refused_for_missing_weights",
        "load_state_dict(strict=False) (torch's and fairseq's partial load) checked as a strict one: a state "
        "dict that lacks some of the model's tensors is refused instead of loading those it has",
        (Edit("models/ofa.py", "        check_state_dict_fits(self, state_dict, strict)\n",
              "        check_state_dict_fits(self, state_dict, True)\n"),),
        (OFA_MODEL_HABITS + "test_a_non_strict_load_takes_the_weights_given_and_keeps_the_others",),
    ),
    Mutant(
        "decoder_heads_from_the_encoders_option",
        "the decoder's layers built with --encoder-attention-heads: --decoder-attention-heads is accepted and "
        "ignored (every official size has equal counts, so no checkpoint shows it)",
        (Edit("models/ofa.py", 'num_heads=getattr(args, f"{side}_attention_heads"),',
              "num_heads=args.encoder_attention_heads,"),),
        (OFA_MODEL_HABITS + "test_the_decoders_head_count_and_ffn_width_are_its_own_options",),
    ),
    Mutant(
        "unequal_embedding_widths_accepted",
        "--decoder-embed-dim other than --encoder-embed-dim is accepted although OFA's encoder, decoder and "
        "output projection share one token embedding: no one-line refusal",
        (Edit("models/ofa.py", "    if args.encoder_embed_dim != args.decoder_embed_dim:\n", "    if False:\n"),),
        (OFA_MODEL_HABITS + "test_a_decoder_embedding_width_other_than_the_encoders_is_refused",),
    ),
    Mutant(
        "activation_fn_option_ignored",
        "every layer's FFN activation is gelu whatever --activation-fn says (a converted port's gelu_accurate "
        "included): the default hides it",
        (Edit("models/ofa.py", "        activation_fn=args.activation_fn,\n", '        activation_fn="gelu",\n'),),
        ("tests/test_ofa_layers.py::test_the_activation_fn_option_sets_every_layers_ffn_activation",),
    ),
    Mutant(
        "scale_resids_option_ignored",
        "--scale-resids (NormFormer's scaled residuals) accepted and ignored: the layers get no w_resid, and "
        "the option's default (off) hides it",
        (Edit("models/ofa.py", "        scale_resids=args.scale_resids,\n", "        scale_resids=False,\n"),),
        ("tests/test_ofa_layers.py::test_the_scale_resids_option_gives_every_layer_its_residual_scale",),
    ),
    Mutant(
        "demo_without_entangled_positions",
        "ofa_demo built without OFA's --entangle-position-embedding, which its docstring says it needs: a demo "
        "trained so names the objects out of reading order, and no parameter's shape shows it",
        (Edit("models/ofa.py", '    _default(args, "entangle_position_embedding", True)\n',
              '    _default(args, "entangle_position_embedding", False)\n'),),
        (ARCHITECTURE + "test_the_demo_architecture_adds_positions_to_its_encoder_embeddings",),
    ),
    Mutant(
        "sweep_depth_zero_accepted",
        "--depths 0 accepted: a static depth of 0 is the static policy's 'off', so the sweep adds rows named "
        "depth 0 that ran the whole part",
        (Edit("ofa_mue/sweep.py", "        if value < 1:\n", "        if value < 0:\n"),),
        (SWEEP_TABLES + "test_a_depth_below_one_is_refused",),
    ),
    Mutant(
        "sweep_mue_curve_without_image_exits",
        "the sweep's MuE curve sets the text and decoder thresholds only: its image stream never exits, "
        "and the curve is drawn as MuE's",
        (Edit("ofa_mue/sweep.py", "exit_options(image_exit_threshold=t, text_exit_threshold=t,",
              "exit_options(text_exit_threshold=t,"),),
        (SWEEP_TABLES + "test_policy_points_give_each_curve_its_own_exit_options",),
    ),
    Mutant(
        "sweep_patience_encoder_form_without_encoder_exits",
        "the PABEE baseline's '+ MuE encoder exits' form runs without MuE's encoder thresholds: it repeats the "
        "decoder-only curve under a label that says the encoder exits",
        (Edit("ofa_mue/sweep.py", 'exit_options("patience", patience_exit_layers=k, **encoder_options)',
              'exit_options("patience", patience_exit_layers=k)'),),
        (SWEEP_TABLES + "test_policy_points_give_each_curve_its_own_exit_options",),
    ),
    Mutant(
        "sweep_entropy_encoder_form_without_encoder_exits",
        "the DeeBERT baseline's '+ MuE encoder exits' form runs without MuE's encoder thresholds: it repeats "
        "the decoder-only curve under a label that says the encoder exits",
        (Edit("ofa_mue/sweep.py", 'exit_options("entropy", entropy_exit_threshold=h, **encoder_options)',
              'exit_options("entropy", entropy_exit_threshold=h)'),),
        (SWEEP_TABLES + "test_policy_points_give_each_curve_its_own_exit_options",),
    ),
    Mutant(
        "sweep_accepts_another_exit_policy",
        "the sweep accepts --exit-policy entropy/patience/static, although it runs those policies itself "
        "and sweeps MuE's thresholds",
        (Edit("ofa_mue/sweep.py", '    if setup.task.cfg.exit_policy != "mue":\n', "    if False:\n"),),
        (SWEEP_TABLES + "test_grid_points_refuse_an_exit_policy_other_than_mues",),
    ),
    Mutant(
        "sweep_baseline_encoder_forms_without_encoder_exits",
        "MuE thresholds that exit in the decoder only still give the baselines their '+ MuE encoder exits' "
        "forms, with no encoder exit: duplicate curves whose label says the encoder exits",
        (Edit("ofa_mue/sweep.py", "if isinstance(policy, MuEThresholds) and policy.encoder_exits:",
              "if isinstance(policy, MuEThresholds):"),),
        (SWEEP_TABLES + "test_baselines_get_encoder_forms_only_when_mues_encoder_exits_are_given",),
    ),
    Mutant(
        "sweep_given_point_text_threshold_from_the_image",
        "MuE's given operating point is evaluated with the image threshold in the text stream, while its "
        "setting names the text threshold given",
        (Edit("ofa_mue/sweep.py",
              "text_exit_threshold=cfg.text_exit_threshold, decoder_exit_threshold=cfg.decoder_exit_threshold)",
              "text_exit_threshold=cfg.image_exit_threshold, decoder_exit_threshold=cfg.decoder_exit_threshold)"),),
        (SWEEP_TABLES + "test_the_given_operating_point_keeps_each_parts_threshold",),
    ),
    Mutant(
        "patience_policy_accepts_a_decoder_exit_threshold",
        "--exit-policy patience takes a --decoder-exit-threshold it never applies (only entropy refuses it): the "
        "decoder exits by patience while the results file names the threshold",
        (Edit("tasks/ofa_task.py", 'elif policy in ("entropy", "patience") and cfg.decoder_exit_threshold <= 1.0:',
              'elif policy in ("entropy",) and cfg.decoder_exit_threshold <= 1.0:'),),
        (POLICY + "test_task_refuses_exit_options_it_cannot_honour[patience-decoder-threshold]",),
    ),
    Mutant(
        "static_policy_accepts_a_threshold_of_one",
        "--exit-policy static ignores an --image/--text/--decoder-exit-threshold of exactly 1.0 (a live exit, "
        "as everywhere else) without a word, refusing only those below 1",
        (Edit("tasks/ofa_task.py", "if value <= 1.0]\n", "if value < 1.0]\n"),),
        (POLICY + "test_task_refuses_exit_options_it_cannot_honour[static-threshold-of-one]",),
    ),
    Mutant(
        "static_image_and_text_depths_swapped",
        "--static-image-layers cuts the text stream and --static-text-layers the image stream",
        (Edit("tasks/ofa_task.py",
              "StaticDepths(cfg.static_image_layers, cfg.static_text_layers, cfg.static_decoder_layers)",
              "StaticDepths(cfg.static_text_layers, cfg.static_image_layers, cfg.static_decoder_layers)"),),
        (POLICY + "test_task_builds_each_policy_with_its_own_depths_and_the_granularity_given",),
    ),
    Mutant(
        "patience_policy_ignores_the_exit_granularity",
        "--exit-policy patience runs per token whatever --exit-granularity / --exit-step-quantile say",
        (Edit("tasks/ofa_task.py", "PatiencePolicy(cfg.patience_exit_layers, granularity, **encoder)",
              "PatiencePolicy(cfg.patience_exit_layers, **encoder)"),),
        (POLICY + "test_task_builds_each_policy_with_its_own_depths_and_the_granularity_given",),
    ),
    Mutant(
        "exit_launch_flops_ignored",
        "--exit-launch-flops never reaches the granularity: --exit-granularity auto measures the device instead",
        (Edit("tasks/ofa_task.py", ", cfg.exit_launch_flops)\n", ")\n"),),
        (POLICY + "test_task_builds_each_policy_with_its_own_depths_and_the_granularity_given",),
    ),
    Mutant(
        "fairseq_train_accepts_exit_verify",
        "fairseq-train takes --exit-verify (an inference option) without a word: the training run ignores it",
        (Edit("tasks/ofa_task.py", "        if exiting or self.cfg.exit_verify:\n", "        if exiting:\n"),),
        ("tests/test_ofa_habits_tasks.py::test_fairseq_train_refuses_exit_options[exit-verify]",),
    ),
    Mutant(
        "iterative_refinement_and_speech_translation_options_not_refused",
        "fairseq-generate's --iter-decode-eos-penalty, --iter-decode-force-max-iter, "
        "--iter-decode-with-external-reranker, --beam-mt, --max-len-a-mt, --max-len-b-mt and --lenpen-mt (options of "
        "other generators) are accepted and ignored by the caption generator",
        (Edit("tasks/generation_options.py",
              '    "iter_decode_eos_penalty": ("--iter-decode-eos-penalty", 0.0), ', "    "),
         Edit("tasks/generation_options.py",
              '    "iter_decode_force_max_iter": ("--iter-decode-force-max-iter", False),\n', ""),
         Edit("tasks/generation_options.py",
              '    "iter_decode_with_external_reranker": ("--iter-decode-with-external-reranker", False),\n', ""),
         Edit("tasks/generation_options.py",
              '    "beam_mt": ("--beam-mt", 0), "max_len_a_mt": ("--max-len-a-mt", 0), "max_len_b_mt": ("--max-len-b-mt", 200),\n',
              ""),
         Edit("tasks/generation_options.py", '    "lenpen_mt": ("--lenpen-mt", 1), ', "    ")),
        tuple(f"{GENERATION_HABITS}test_fairseq_generate_refuses_caption_options_its_generator_cannot_honour[{case}]"
              for case in ("iter-decode-eos-penalty", "iter-decode-force-max-iter", "iter-decode-with-external-reranker",
                           "beam-mt", "max-len-a-mt", "max-len-b-mt", "lenpen-mt")),
    ),
    Mutant(
        "min_len_above_max_len_b_refused_with_match_source_len",
        "--min-len above --max-len-b is refused with --match-source-len too, where the outputs are as long as the "
        "source and --max-len-b does not bound them (fairseq's generator runs it)",
        (Edit("tasks/generation_options.py",
              ' and not getattr(args, "match_source_len", False) and min_len > max_len_b:',
              " and min_len > max_len_b:"),),
        (f"{GENERATION_HABITS}test_fairseq_generate_accepts_caption_options_with_what_they_apply_with"
         "[min-len above max-len-b with match-source-len]",),
    ),
    Mutant(
        "match_source_len_not_counted_as_a_search",
        "--match-source-len is not counted among the searches, so --match-source-len --diversity-rate 0 is "
        "accepted and fairseq runs the length-constrained search, ignoring the diversity rate",
        (Edit("tasks/generation_options.py",
              '("--match-source-len", "outputs as long as the source", bool(getattr(args, "match_source_len", False))),',
              '("--match-source-len", "outputs as long as the source", False),'),),
        (f"{GENERATION_HABITS}test_fairseq_generate_refuses_caption_options_its_generator_cannot_honour"
         "[match-source-len with diversity-rate 0]",),
    ),
    Mutant(
        "generation_json_takes_a_fraction_for_a_whole_number",
        "--eval-args / --scst-args take a fraction for a whole-number option ({\"beam\": 2.5}), which fairseq's "
        "generator then uses as given",
        (Edit("tasks/generation_options.py",
              "    return isinstance(value, int) if kind is int else isinstance(value, (int, float))\n",
              "    return isinstance(value, (int, float))\n"),),
        (f"{EVAL_HABITS}test_generation_json_keys_the_generator_cannot_honour_are_refused"
         "[fraction for a whole number---eval-args-eval_args]",
         f"{EVAL_HABITS}test_generation_json_keys_the_generator_cannot_honour_are_refused"
         "[fraction for a whole number---scst-args-scst_args]"),
    ),
    Mutant(
        "generation_json_takes_true_for_a_whole_number",
        "--eval-args / --scst-args take true for a whole-number option ({\"beam\": true}: a beam of 1)",
        (Edit("tasks/generation_options.py", "        return kind is bool and isinstance(value, bool)\n",
              "        return isinstance(value, bool)\n"),),
        (f"{EVAL_HABITS}test_generation_json_keys_the_generator_cannot_honour_are_refused"
         "[true for a whole number---eval-args-eval_args]",),
    ),
    Mutant(
        "generation_json_takes_a_number_for_true_or_false",
        "--eval-args / --scst-args take a number for a true-or-false option ({\"sampling\": 1})",
        (Edit("tasks/generation_options.py", "        return kind is bool and isinstance(value, bool)\n",
              "        return kind is bool\n"),),
        (f"{EVAL_HABITS}test_generation_json_keys_the_generator_cannot_honour_are_refused"
         "[number for true or false---eval-args-eval_args]",),
    ),
    Mutant(
        "snli_ve_takes_search_options_its_scoring_ignores",
        "fairseq-generate / the evaluation on snli_ve take --nbest, --sampling, --lenpen and --match-source-len, "
        "which its teacher-forced scoring of the three answers ignores",
        (Edit("tasks/snli_ve.py", '"nbest": ("--nbest", 1), "sampling": ("--sampling", False), ', ""),
         Edit("tasks/snli_ve.py", '"lenpen": ("--lenpen", 1), ', ""),
         Edit("tasks/snli_ve.py", '    "match_source_len": ("--match-source-len", False), ', "    ")),
        tuple(f"{GENERATION_HABITS}test_fairseq_generate_on_snli_ve_refuses_what_its_scoring_ignores[{case}]"
              for case in ("nbest", "sampling", "lenpen", "match-source-len")),
    ),
    Mutant(
        "generation_json_type_check_lets_true_pass_as_a_number",
        "--eval-args / --scst-args check true or false only for a true-or-false option, so true passes as a "
        "whole number ({\"beam\": true}: a beam of 1)",
        (Edit("tasks/generation_options.py", "    if kind is bool or isinstance(value, bool):\n", "    if kind is bool:\n"),),
        (f"{EVAL_HABITS}test_generation_json_keys_the_generator_cannot_honour_are_refused"
         "[true for a whole number---scst-args-scst_args]",),
    ),
    Mutant(
        "caption_max_tgt_length_not_passed_to_the_dataset",
        "--max-tgt-length never reaches the caption dataset: training captions are cut to its default 30 words "
        "whatever the option says",
        (Edit("tasks/caption.py", "            max_tgt_length=self.cfg.max_tgt_length,\n", ""),),
        ("tests/test_ofa_training_options.py::test_caption_training_cuts_captions_to_the_given_max_tgt_length",),
    ),
    Mutant(
        "snli_ve_prompt_type_defaults_to_src",
        "snli_ve's --prompt-type defaults to src instead of prev_output (OFA's recipes)",
        (Edit("tasks/snli_ve.py", '"add_caption": False, "prompt_type": "prev_output"}',
              '"add_caption": False, "prompt_type": "src"}'),),
        ("tests/test_ofa_training_defaults.py::test_snli_ve_training_takes_ofas_defaults",),
    ),
    Mutant(
        "snli_ve_prompt_type_not_passed_to_the_dataset",
        "--prompt-type never reaches the SNLI-VE dataset: the decoder prompt is prev_output's whatever the option says",
        (Edit("tasks/snli_ve.py", "            prompt_type=self.cfg.prompt_type,\n", ""),),
        ("tests/test_ofa_training_options.py::test_snli_ve_prompt_type_reaches_the_dataset",),
    ),
    Mutant(
        "envelope_at_a_vertex_named_as_a_mix",
        "at a reduction exactly a hull vertex's the envelope is the segment ending there (share 1): MuE's table "
        "says static truncation runs the vertex before it and that vertex, though only that one runs",
        (Edit("ofa_mue/envelope.py", "            if share in (0.0, 1.0):  # at a vertex: that fixed depth alone, not a mix\n",
              "            if False:\n"),),
        ("tests/test_reproduce.py::test_the_envelope_at_a_vertex_is_that_fixed_depth_alone",),
    ),
    Mutant(
        "adaptivity_drops_a_calibrated_point_that_saves_nothing",
        "the adaptivity bound leaves out the calibrated operating point when it saves nothing (a calibration that "
        "found no safe exit), not only MuE's sweep levels that save nothing",
        (Edit("ofa_mue/adaptivity_bound.py", '        if row["curve"] == "mue" and x <= TOLERANCE:',
              "        if x <= TOLERANCE:"),),
        (ADAPTIVITY + "test_a_calibrated_point_that_saves_nothing_is_still_compared",),
    ),
    Mutant(
        "adaptivity_markdown_oracle_column_shows_the_envelope",
        "adaptivity_bound.md's 'largest reduction keeping' rows give static truncation's envelope under the oracle",
        (Edit("ofa_mue/adaptivity_bound.py", "| {percent(by['oracle'])} | \"",
              "| {percent(by['static_envelope'])} | \""),),
        (ADAPTIVITY + "test_the_bounds_markdown_puts_each_figure_under_its_own_column",),
    ),
    Mutant(
        "adaptivity_markdown_envelope_and_oracle_swapped",
        "adaptivity_bound.md's per-level rows give the oracle's quality under 'static envelope' and the envelope's "
        "under 'oracle'",
        (Edit("ofa_mue/adaptivity_bound.py",
              "f\"{number_cell(entry['static_envelope_capped'])} | {number_cell(entry['oracle'])} | \"",
              "f\"{number_cell(entry['oracle'])} | {number_cell(entry['static_envelope_capped'])} | \""),),
        (ADAPTIVITY + "test_the_bounds_markdown_puts_each_figure_under_its_own_column",),
    ),
    Mutant(
        "adaptivity_markdown_calibrated_point_unlabelled",
        "adaptivity_bound.md names the calibrated operating point like one of MuE's levels (no '(calibrated)')",
        (Edit("ofa_mue/adaptivity_bound.py", '("" if entry["level"] else " (calibrated)")', '("")'),),
        (ADAPTIVITY + "test_the_bounds_markdown_puts_each_figure_under_its_own_column",),
    ),
    Mutant(
        "fixed_depth_table_always_says_mue_beats",
        "benchmarks/fixed_depth_chosen_on_valid.md's summary says MuE beats the depth chosen on valid also where "
        "it does not",
        (Edit("benchmarks/fixed_depth_chosen_on_valid.py", "{'yes' if chosen['mue_beats_fixed_depth'] else 'no'}",
              "{'yes'}"),),
        (FIXED_DEPTH_TABLES,),
    ),
    Mutant(
        "fixed_depth_table_calibrated_point_as_a_level",
        "benchmarks/fixed_depth_chosen_on_valid.md names the calibrated operating point like one of MuE's levels",
        (Edit("benchmarks/fixed_depth_chosen_on_valid.py", "{'' if e['level'] else ' (calibrated, not a level)'}",
              "{''}"),),
        (FIXED_DEPTH_TABLES,),
    ),
    Mutant(
        "reproduce_accepts_two_shards",
        "reproduce accepts --num-shards 2 and builds every table from one shard's rows (refused only above 2)",
        (Edit("ofa_mue/reproduce.py", "    if args.num_shards > 1:", "    if args.num_shards > 2:"),),
        (SWEEP_TABLES + "test_reproduce_refuses_each_exit_option_it_would_not_honour[num_shards]",),
    ),
    Mutant(
        "reproduce_ignores_static_text_layers",
        "reproduce accepts --static-text-layers and silently overrides it with its own exit settings",
        (Edit("ofa_mue/reproduce.py", '                                       ("--static-text-layers", args.static_text_layers),\n', ""),),
        (SWEEP_TABLES + "test_reproduce_refuses_each_exit_option_it_would_not_honour[static_text_layers]",),
    ),
    Mutant(
        "reproduce_ignores_exit_policy",
        "reproduce accepts --exit-policy static (or entropy, patience) and silently runs its own settings",
        (Edit("ofa_mue/reproduce.py", '    if args.exit_policy != "mue":', "    if False:"),),
        (SWEEP_TABLES + "test_reproduce_refuses_each_exit_option_it_would_not_honour[exit_policy]",),
    ),
    Mutant(
        "reproduce_calibrates_on_the_evaluated_split",
        "reproduce puts the evaluation options after its --gen-subset CALIBRATION_SUBSET: with --gen-subset test "
        "given (as the usage line does), the thresholds are calibrated on the split the tables report",
        (Edit("ofa_mue/reproduce.py",
              '    argv = [*rest, "--path", checkpoint, "--gen-subset", args.calibration_subset, '
              '*shlex.split(args.calibrate_args),',
              '    argv = ["--path", checkpoint, "--gen-subset", args.calibration_subset, *rest, '
              '*shlex.split(args.calibrate_args),'),),
        (SWEEP_TABLES + "test_reproduce_calibrates_on_the_calibration_split_as_the_variant_is_evaluated",),
    ),
    Mutant(
        "reproduce_variant_calibrated_without_its_overrides",
        "Table 4's joint variant is calibrated on the joint encoder though MuE then runs it decomposed: its "
        "thresholds are chosen for another model than the one evaluated",
        (Edit("ofa_mue/reproduce.py", "    if overrides is not None:\n        argv += [\"--model-overrides\", overrides]\n"
              "    logger", "    if False:\n        argv += [\"--model-overrides\", overrides]\n    logger"),),
        (SWEEP_TABLES + "test_reproduce_calibrates_on_the_calibration_split_as_the_variant_is_evaluated",),
    ),
    Mutant(
        "reproduce_csv_without_the_held_out_columns",
        "with --static-chosen-on, mue_vs_static.csv leaves out the columns of static truncation chosen on that split "
        "(only the markdown shows the held-out comparison)",
        (Edit("ofa_mue/reproduce.py", "                        if chosen_rows is not None else [])",
              "                        if chosen_rows is None else [])"),),
        ("tests/test_reproduce.py::test_reproduce_scores_static_depths_chosen_on_the_validation_split",),
    ),
    Mutant(
        "largest_reduction_keeping_misses_a_hull_ending_at_the_quality",
        "the largest reduction keeping a quality is None ('-') where the hull ends exactly at that quality (e.g. a "
        "single point at the full model's): a kept 100% is reported as never kept",
        (Edit("ofa_mue/adaptivity_bound.py",
              "    return hull[-1][0] if hull and hull[-1][1] >= quality - TOLERANCE else None",
              "    return hull[-1][0] if hull and hull[-1][1] > quality else None"),),
        (ADAPTIVITY + "test_largest_reduction_keeping_a_quality_interpolates_where_the_hull_crosses_it",),
    ),
    Mutant(
        "oracle_without_the_lossless_penalty",
        "the oracle's penalties start at 1e-3, not 0: with caption-like scores the 'lossless' oracle trades small "
        "losses for time and its reduction keeping 100% of the full model's quality falls",
        (Edit("ofa_mue/adaptivity_bound.py", "PENALTIES = (0.0, *np.geomspace(1e-3, 1e3, 61).tolist())",
              "PENALTIES = tuple(np.geomspace(1e-3, 1e3, 61).tolist())"),),
        (ADAPTIVITY + "test_the_lossless_oracle_keeps_every_score_exactly_also_where_a_cheaper_depth_loses_a_little",),
    ),
    Mutant(
        "adaptivity_figure_draws_the_calibrated_point_as_a_level",
        "the adaptivity bound's figure joins the calibrated operating point into MuE's curve of levels",
        (Edit("ofa_mue/adaptivity_bound.py", ' for e in table if e["level"])', " for e in table)"),),
        (ADAPTIVITY + "test_the_bounds_figure_draws_mues_levels_only",),
    ),
    Mutant(
        "fixed_depth_profile_under_the_first_seed_folder",
        "benchmarks/fixed_depth_chosen_on_valid.py looks a run's profile up from the first seedN folder of its "
        "path: under a results folder whose own path has one (/home/seed7/...), it reads a file that is not the run's",
        (Edit("benchmarks/fixed_depth_chosen_on_valid.py", "    return os.path.join(demo_results, *parts[seeds[-1]:])",
              "    return os.path.join(demo_results, *parts[seeds[0]:])"),),
        (FIXED_DEPTH + "test_a_runs_profile_is_found_under_the_committed_results_whatever_its_results_folder",),
    ),
    Mutant(
        "demo_mue_quality_of_the_full_model",
        "the demo summary's calibrated-MuE quality figure reports the full model's instead of MuE's",
        (Edit("demo/summary.py", "f\"mue_{metric}\": mue_row[metric],", "f\"mue_{metric}\": full,"),),
        (f"{DEMO_CHECKS}test_a_seeds_figures_are_read_from_each_of_its_runs",),
    ),
    Mutant(
        "demo_one_layer_quality_of_the_full_model",
        "the demo summary's one-layer static quality figure reports the full model's instead of the one-layer row's",
        (Edit("demo/summary.py", "f\"static_1_{metric}\": static_1[\"metric\"]", "f\"static_1_{metric}\": full"),),
        (f"{DEMO_CHECKS}test_a_seeds_figures_are_read_from_each_of_its_runs",),
    ),
    Mutant(
        "demo_versus_static_count_left_out",
        "the demo summary drops MuE's count of levels strictly above static truncation's envelope",
        (Edit("demo/summary.py", "(\"levels\", \"strictly_above\", \"at_or_above\"", "(\"levels\", \"at_or_above\""),),
        (f"{DEMO_CHECKS}test_a_seeds_figures_are_read_from_each_of_its_runs",),
    ),
    Mutant(
        "demo_beats_fixed_depth_never_read",
        "the demo summary never reads reproduce's 'MuE beats a fixed depth' verdict: that check is 'not measured' "
        "in every seed",
        (Edit("demo/summary.py", "\"below\", \"mue_beats_fixed_depth\",", "\"below\","),),
        (f"{DEMO_CHECKS}test_a_seeds_figures_are_read_from_each_of_its_runs",),
    ),
    Mutant(
        "demo_replaced_runs_all_read_from_other_images",
        "the demo summary reads every replaced-input figure (blank images, other text) from the other-images run",
        (Edit("demo/summary.py", "test_evaluation(os.path.join(task_dir, run), examples)",
              "test_evaluation(os.path.join(task_dir, REPLACED[0]), examples)"),),
        (f"{DEMO_CHECKS}test_a_seeds_figures_are_read_from_each_of_its_runs",),
    ),
    Mutant(
        "demo_certified_retention_inverted",
        "the demo summary's certified retention computed as full / certified instead of certified / full",
        (Edit("demo/summary.py", "\"certified_retention\": retention(result[\"metrics\"][metric], full)",
              "\"certified_retention\": retention(full, result[\"metrics\"][metric])"),),
        (f"{DEMO_CHECKS}test_a_seeds_figures_are_read_from_each_of_its_runs",),
    ),
    Mutant(
        "demo_certified_verdict_inverted",
        "the demo summary reports a certified calibration that failed its guarantee as passed (and the reverse)",
        (Edit("demo/summary.py", "\"certified_passed\": float(bool(guarantee.get(\"certified\")))",
              "\"certified_passed\": float(not guarantee.get(\"certified\"))"),),
        (f"{DEMO_CHECKS}test_a_seeds_figures_are_read_from_each_of_its_runs",),
    ),
    Mutant(
        "demo_ablation_retention_inverted",
        "the demo summary's Table 4 variant retention computed as full / MuE instead of MuE / full",
        (Edit("demo/summary.py", "retention(entry[\"metric\"], entry[\"full_metric\"])",
              "retention(entry[\"full_metric\"], entry[\"metric\"])"),),
        (f"{DEMO_CHECKS}test_a_seeds_figures_are_read_from_each_of_its_runs",),
    ),
    Mutant(
        "demo_seed_without_reproduce_kept",
        "a seed with no reproduce run but a run_time.json gets figures, so the summary takes it as a seed "
        "(every check 'not measured') instead of refusing it",
        (Edit("demo/summary.py", "    if figures:\n        figures.update(question_figures",
              "    if True:\n        figures.update(question_figures"),),
        (f"{DEMO_CHECKS}test_a_seeds_figures_are_read_from_each_of_its_runs",),
    ),
    Mutant(
        "demo_three_cores_pass_the_two_core_target",
        "the demo summary's run-time target accepts a run on 3 cores as one on at most 2",
        (Edit("demo/summary.py", "f[\"demo.cores\"] <= 2", "f[\"demo.cores\"] <= 3"),),
        (f"{DEMO_CHECKS}test_one_figure_past_its_bound_in_one_seed_breaks_exactly_its_check[demo.cores]",),
    ),
    Mutant(
        "demo_upper_bound_without_count_tolerance",
        "the demo summary's upper bounds compared exactly: CIDEr 0.51 of 0.6 (85%, 0.8500000000000001 in floating "
        "point) fails 'at most 85%'",
        (Edit("demo/summary.py", "    return value <= bound + TOLERANCE\n", "    return value <= bound\n"),),
        (f"{DEMO_CHECKS}test_figures_made_of_counts_meet_a_bound_they_equal",),
    ),
    Mutant(
        "demo_spread_over_the_population",
        "the demo summary's spread over seeds is the population standard deviation instead of the sample's",
        (Edit("demo/summary.py", "\"std\": statistics.stdev(series)", "\"std\": statistics.pstdev(series)"),),
        (f"{DEMO_CHECKS}test_each_figure_aggregates_to_its_mean_sample_spread_and_range",),
    ),
    Mutant(
        "demo_mean_is_the_median",
        "the demo summary's mean over seeds is the median",
        (Edit("demo/summary.py", "\"mean\": statistics.fmean(series)", "\"mean\": statistics.median(series)"),),
        (f"{DEMO_CHECKS}test_each_figure_aggregates_to_its_mean_sample_spread_and_range",),
    ),
    Mutant(
        "demo_unmeasured_figure_counted_as_zero",
        "the demo summary counts a figure a seed did not measure as 0 in that figure's mean and spread",
        (Edit("demo/summary.py",
              "values = {seed: figures[name] for seed, figures in per_seed.items() if name in figures}",
              "values = {seed: figures.get(name, 0.0) for seed, figures in per_seed.items()}"),),
        (f"{DEMO_CHECKS}test_each_figure_aggregates_to_its_mean_sample_spread_and_range",),
    ),
    Mutant(
        "demo_markdown_overall_verdict_in_each_seed",
        "summary.md shows the verdict over all seeds in each seed's column instead of that seed's own",
        (Edit("demo/summary.py", "verdict[check[\"per_seed\"].get(s)] for s in seeds",
              "verdict[check[\"passed\"]] for s in seeds"),),
        (f"{DEMO_CHECKS}test_the_markdown_gives_each_seeds_verdict_and_shares_as_percentages",),
    ),
    Mutant(
        "demo_markdown_snli_gap_as_a_number",
        "summary.md prints SNLI-VE's one-layer accuracy gap as a raw number and captions' CIDEr gap as a percentage",
        (Edit("demo/summary.py", "if name.startswith(\"caption.\") and name.endswith(\"_gap\"):",
              "if name.startswith(\"snli_ve.\") and name.endswith(\"_gap\"):"),),
        (f"{DEMO_CHECKS}test_the_markdown_gives_each_seeds_verdict_and_shares_as_percentages",),
    ),
    Mutant(
        "demo_markdown_mean_and_std_swapped",
        "summary.md puts the spread under 'mean' and the mean under 'std'",
        (Edit("demo/summary.py", "| {fmt(entry['mean'])} | {fmt(entry['std'])} \"",
              "| {fmt(entry['std'])} | {fmt(entry['mean'])} \""),),
        (f"{DEMO_CHECKS}test_the_markdown_gives_each_seeds_verdict_and_shares_as_percentages",),
    ),
    Mutant(
        "table1_without_the_entropy_encoder_baseline",
        "Table 1 leaves out DeeBERT's entropy exits in the encoder though they were swept",
        (Edit("ofa_mue/paper_tables.py", "(\"mue_decoder\", \"entropy\", \"entropy_encoder\",",
              "(\"mue_decoder\", \"entropy\","),),
        (SWEEP_TABLES + "test_table1_has_each_swept_baseline_with_its_own_saving_and_layers",),
    ),
    Mutant(
        "table1_reduction_of_mue_in_every_row",
        "Table 1 gives every method calibrated MuE's expected time reduction instead of its own setting's",
        (Edit("ofa_mue/paper_tables.py",
              "\"expected_time_reduction\": row[\"expected_time_reduction\"], \"examples\": row[\"examples\"]",
              "\"expected_time_reduction\": points[1][0][\"expected_time_reduction\"], \"examples\": row[\"examples\"]"),),
        (SWEEP_TABLES + "test_table1_has_each_swept_baseline_with_its_own_saving_and_layers",),
    ),
    Mutant(
        "table1_layers_of_the_full_model",
        "Table 1 gives every method the full model's mean layers instead of its own setting's",
        (Edit("ofa_mue/paper_tables.py",
              "\"options\": row[\"options\"], **{name: row[name] for name in LAYER_COLUMNS}}",
              "\"options\": row[\"options\"], **{name: points[0][0][name] for name in LAYER_COLUMNS}}"),),
        (SWEEP_TABLES + "test_table1_has_each_swept_baseline_with_its_own_saving_and_layers",),
    ),
    Mutant(
        "table1_markdown_only_the_first_metric",
        "Table 1's markdown fills only the first metric's column: the other metrics' cells are missing and every "
        "later figure sits under the wrong header",
        (Edit("ofa_mue/paper_tables.py",
              "*(f\"{entry[name]:.4f}\" if entry[name] is not None else \"-\" for name in metric_names)",
              "*(f\"{entry[name]:.4f}\" if entry[name] is not None else \"-\" for name in metric_names[:1])"),),
        (SWEEP_TABLES + "test_table1_has_each_swept_baseline_with_its_own_saving_and_layers",),
    ),
    Mutant(
        "table3_form_named_by_the_curve",
        "Table 3's 'exits in' column names the curve (mue_decoder) instead of the parts that exit",
        (Edit("ofa_mue/paper_tables.py", "table.append({\"form\": row[\"exits\"], \"curve\": row[\"curve\"]",
              "table.append({\"form\": row[\"curve\"], \"curve\": row[\"curve\"]"),),
        (SWEEP_TABLES + "test_table3_puts_each_figure_under_its_column",),
    ),
    Mutant(
        "table3_markdown_kept_and_reduction_swapped",
        "Table 3's markdown puts the expected time reduction under 'kept' and the retention under 'expected time "
        "reduction'",
        (Edit("ofa_mue/paper_tables.py",
              "f\"{entry['metric']:.4f}\", percent(entry[\"retention\"]),\n"
              "             percent(entry[\"expected_time_reduction\"])",
              "f\"{entry['metric']:.4f}\", percent(entry[\"expected_time_reduction\"]),\n"
              "             percent(entry[\"retention\"])"),),
        (SWEEP_TABLES + "test_table3_puts_each_figure_under_its_column",),
    ),
    Mutant(
        "envelope_equal_only_without_rounding",
        "MuE 1e-12 below static truncation's envelope (floating-point rounding) counted as below it, not equal",
        (Edit("ofa_mue/paper_tables.py", "(\"equal\" if difference >= -TOLERANCE else \"below\")",
              "(\"equal\" if difference >= 0 else \"below\")"),),
        ("tests/test_reporting_audit.py::test_levels_only_equal_to_the_envelope_do_not_beat_a_fixed_depth",),
    ),
    Mutant(
        "beats_fixed_depth_without_a_level_strictly_above",
        "'MuE beats a fixed depth' claimed from 3 levels merely equal to static truncation's envelope, none "
        "strictly above",
        (Edit("ofa_mue/paper_tables.py", "above + equal >= 3 and above >= 1}", "above + equal >= 3 and above >= 0}"),),
        ("tests/test_reporting_audit.py::test_levels_only_equal_to_the_envelope_do_not_beat_a_fixed_depth",),
    ),
    Mutant(
        "indistinguishable_counted_significantly_above",
        "levels whose interval covers 0 counted as significantly above static truncation",
        (Edit("ofa_mue/paper_tables.py",
              "significantly_above=sum(entry[significance] == \"above\" for entry in levels)",
              "significantly_above=sum(entry[significance] != \"below\" for entry in levels)"),),
        ("tests/test_significance.py::test_levels_significantly_above_below_and_indistinguishable_are_counted_apart",),
    ),
    Mutant(
        "significantly_below_counts_the_levels_above",
        "the count of levels significantly below static truncation counts those significantly above",
        (Edit("ofa_mue/paper_tables.py",
              "significantly_below=sum(entry[significance] == \"below\" for entry in levels)",
              "significantly_below=sum(entry[significance] == \"above\" for entry in levels)"),),
        ("tests/test_significance.py::test_levels_significantly_above_below_and_indistinguishable_are_counted_apart",),
    ),
    Mutant(
        "held_out_difference_sign_flipped",
        "MuE's table gives the difference against static truncation chosen on another split as chosen - MuE "
        "(its verdict still MuE - chosen)",
        (Edit("ofa_mue/paper_tables.py", "difference_chosen=row[\"metric\"] - choice.quality,",
              "difference_chosen=choice.quality - row[\"metric\"],"),),
        ("tests/test_reproduce.py::test_mue_against_static_truncation_chosen_on_another_split",),
    ),
    Mutant(
        "markdown_verdict_from_levels_at_or_above",
        "MuE's table headline says 'MuE beats a fixed depth: yes' whenever a level is at or above the envelope, "
        "whatever the summary's verdict",
        (Edit("ofa_mue/paper_tables.py", "verdict = \"yes\" if summary[\"mue_beats_fixed_depth\"] else \"no\"",
              "verdict = \"yes\" if summary[\"at_or_above\"] else \"no\""),),
        ("tests/test_reporting_audit.py::test_levels_only_equal_to_the_envelope_do_not_beat_a_fixed_depth",),
    ),
    Mutant(
        "markdown_levels_at_or_above_called_above",
        "MuE's table headline gives the levels at or above the envelope as those strictly above it",
        (Edit("ofa_mue/paper_tables.py",
              "{summary['strictly_above']} above static truncation's envelope, {summary['equal']} \"",
              "{summary['at_or_above']} above static truncation's envelope, {summary['equal']} \""),),
        ("tests/test_reporting_audit.py::test_mue_against_static_markdown_counts_and_cells",),
    ),
    Mutant(
        "held_out_markdown_verdict_from_the_levels",
        "the held-out comparison's headline says 'MuE beats a fixed depth: yes' whenever there is a level",
        (Edit("ofa_mue/paper_tables.py", "verdict = \"yes\" if chosen[\"mue_beats_fixed_depth\"] else \"no\"",
              "verdict = \"yes\" if chosen[\"levels\"] else \"no\""),),
        ("tests/test_reporting_audit.py::test_mue_against_static_markdown_counts_and_cells",),
    ),
    Mutant(
        "markdown_difference_column_shows_mues_metric",
        "MuE's table puts MuE's metric under 'difference' instead of MuE minus the envelope",
        (Edit("ofa_mue/paper_tables.py",
              "number_cell(entry[\"static_envelope\"]), number_cell(entry[\"difference\"], \"+.4f\"),",
              "number_cell(entry[\"static_envelope\"]), number_cell(entry[\"mue_metric\"], \"+.4f\"),"),),
        ("tests/test_reporting_audit.py::test_mue_against_static_markdown_counts_and_cells",),
    ),
    Mutant(
        "bootstrap_of_differences_constant_up_to_rounding",
        "per-example differences constant up to floating-point rounding (every example 0.02 above) go to BCa, "
        "whose acceleration is 0 / 0: the interval is NaN and the level reads as indistinguishable",
        (Edit("ofa_mue/significance.py",
              "    if np.ptp(values) <= CONSTANT * max(1.0, float(np.abs(values).max())):\n",
              "    if np.ptp(values) == 0:\n"),),
        ("tests/test_significance.py::test_constant_differences_give_a_point_and_bad_input_is_refused",),
    ),
    Mutant(
        "held_out_choice_reports_mues_reduction",
        "static truncation chosen on the validation split reports MuE's reduction, the one it was chosen at, "
        "instead of what its depths save on the scored split",
        (Edit("ofa_mue/paper_tables.py", "static_chosen_reduction=choice.reduction,",
              "static_chosen_reduction=x,"),),
        ("tests/test_reproduce.py::test_mue_against_static_truncation_chosen_on_another_split",),
    ),
    Mutant(
        "sweep_full_model_row_labelled_with_the_exit_policy",
        "the sweep's full-model row names the task's exit policy (e.g. mue) as its policy, as if it exited",
        (Edit("ofa_mue/sweep.py", "\"policy\": \"full\" if point.curve == \"full\" else setup.task.cfg.exit_policy,",
              "\"policy\": setup.task.cfg.exit_policy,"),),
        ("tests/test_training_and_evaluation_cli.py::test_calibrate_profile_and_sweep",),
    ),
    Mutant(
        "sweep_row_without_exits_left_blank",
        "a sweep row whose setting exits in no part (the full model) leaves its exits column blank instead of 'none'",
        (Edit("ofa_mue/sweep.py", "\"exits\": \"+\".join(policy.exiting_parts) or \"none\",",
              "\"exits\": \"+\".join(policy.exiting_parts),"),),
        ("tests/test_training_and_evaluation_cli.py::test_calibrate_profile_and_sweep",),
    ),
    Mutant(
        "caption_prompt_without_question_mark",
        "the caption encoder reads ' what does the image describe' without OFA's question mark: another "
        "prompt than the one OFA's checkpoints were trained on",
        (Edit("data/caption_dataset.py", 'PROMPT = " what does the image describe?"',
              'PROMPT = " what does the image describe"'),),
        ("tests/test_data_caption.py::test_sample_layout",),
    ),
    Mutant(
        "raw_references_keep_whitespace_runs",
        "test captions are scored against references whose runs of spaces are kept, where OFA's coco_eval.py "
        "reads them with single spaces",
        (Edit("data/caption_dataset.py", 'return [" ".join(part.split()) for part in caption.split(REFERENCE_SEPARATOR)]',
              "return [part.strip() for part in caption.split(REFERENCE_SEPARATOR)]"),),
        ("tests/test_data_caption.py::test_raw_references_keep_punctuation_and_normalise_whitespace",),
    ),
    Mutant(
        "caption_id_from_image_id_column",
        "caption rows read without --selected-cols take their id from the image-id column instead of OFA's "
        "uniq-id (column 0)",
        (Edit("data/caption_dataset.py", "DEFAULT_SELECTED_COLS = (0, 4, 2)", "DEFAULT_SELECTED_COLS = (1, 4, 2)"),),
        ("tests/test_data_caption.py::test_sample_layout",),
    ),
    Mutant(
        "scst_targets_cut_to_max_tgt_length",
        "SCST training cuts its targets to --max-tgt-length words as cross-entropy training does (OFA cuts "
        "only for cross-entropy)",
        (Edit("data/caption_dataset.py", 'self.truncate_target = split == "train" and not scst',
              'self.truncate_target = split == "train"'),),
        ("tests/test_data_caption.py::test_training_targets_are_cut_to_max_tgt_length",),
    ),
    Mutant(
        "evaluation_targets_cut_to_max_tgt_length",
        "validation and test targets are cut to --max-tgt-length words too, where OFA cuts only cross-entropy "
        "training targets",
        (Edit("data/caption_dataset.py", 'self.truncate_target = split == "train" and not scst',
              "self.truncate_target = not scst"),),
        ("tests/test_data_caption.py::test_training_targets_are_cut_to_max_tgt_length",),
    ),
    Mutant(
        "empty_reference_accepted",
        "a caption whose reference is empty after removing punctuation is accepted, giving an empty target or "
        "reference instead of an error naming the row",
        (Edit("data/caption_dataset.py", "            if not reference:\n", "            if False:\n"),),
        ("tests/test_data_caption.py::test_empty_caption[-the caption]",
         "tests/test_data_caption.py::test_empty_caption[a dog&&?!-reference 2 of 2]"),
    ),
    Mutant(
        "caption_target_is_the_last_reference",
        "the caption target is a row's last reference instead of its first",
        (Edit("data/caption_dataset.py", "truncate_words(references[0],", "truncate_words(references[-1],"),),
        ("tests/test_data_caption.py::test_sample_layout",),
    ),
    Mutant(
        "caption_target_without_leading_space",
        "the caption target is encoded without OFA's leading space (' {}'), so its first word gets another "
        "BPE token than in OFA",
        (Edit("data/caption_dataset.py", 'self.vocab.encode(" " + target)', "self.vocab.encode(target)"),),
        ("tests/test_data_caption.py::test_sample_layout",),
    ),
    Mutant(
        "caption_source_without_eos",
        "the caption source lacks the eos that OFA appends to the prompt",
        (Edit("data/caption_dataset.py", "self.source = vocab.encode(PROMPT, add_bos=True, add_eos=True)",
              "self.source = vocab.encode(PROMPT, add_bos=True, add_eos=False)"),),
        ("tests/test_data_caption.py::test_sample_layout",),
    ),
    Mutant(
        "caption_batch_references_swapped",
        "a caption batch's references and raw_references are swapped: training rewards get punctuation, test "
        "captions are scored against cleaned references",
        (Edit("data/caption_dataset.py", 'batch["references"] = [s["references"] for s in samples]',
              'batch["references"] = [s["raw_references"] for s in samples]'),),
        ("tests/test_data_caption.py::test_collater_pads_right_and_keeps_references",),
    ),
    Mutant(
        "all_references_skip_the_last_row",
        "CaptionDataset.all_references leaves out the last row's references",
        (Edit("data/caption_dataset.py", "        for index in range(len(self)):\n",
              "        for index in range(len(self) - 1):\n"),),
        ("tests/test_data_caption.py::test_raw_references_keep_punctuation_and_normalise_whitespace",),
    ),
    Mutant(
        "decoder_target_predicts_the_prompts_last_token",
        "the decoder target pads one position fewer than the decoder prompt's length: the target is shifted, "
        "predicting the prompt's last token instead of the answer",
        (Edit("data/ofa_dataset.py", "decoder_prompt.new_full((len(decoder_prompt) - 1,), pad)",
              "decoder_prompt.new_full((len(decoder_prompt) - 2,), pad)"),),
        (f"{SNLI_DATA}test_prev_output_layout", f"{SNLI_DATA}test_collater_batch"),
    ),
    Mutant(
        "decoder_target_without_eos",
        "targets end without eos, so no model learns to stop and generation never scores stopping",
        (Edit("data/ofa_dataset.py", "        answer.new_tensor([eos]),\n", ""),),
        ("tests/test_data_caption.py::test_sample_layout", f"{SNLI_DATA}test_prev_output_layout"),
    ),
    Mutant(
        "ntokens_counts_padding",
        "a batch's ntokens counts the target's padding too, so losses divided by it (and the logged per-token "
        "figures) are off for batches of mixed lengths",
        (Edit("data/ofa_dataset.py", '"ntokens": int(target.ne(pad).sum()),', '"ntokens": target.numel(),'),),
        ("tests/test_data_caption.py::test_collater_pads_right_and_keeps_references",
         f"{SNLI_DATA}test_collater_batch"),
    ),
    Mutant(
        "src_lengths_of_the_targets",
        "src_lengths holds each target's length instead of its source's",
        (Edit("data/ofa_dataset.py", '"src_lengths": torch.tensor([len(s["source"]) for s in samples], dtype=torch.long),',
              '"src_lengths": torch.tensor([len(s["target"]) for s in samples], dtype=torch.long),'),),
        ("tests/test_data_caption.py::test_collater_pads_right_and_keeps_references",),
    ),
    Mutant(
        "src_tokens_left_padded",
        "source tokens are padded on the left instead of the right as in OFA, moving every token of a "
        "shorter source to other positions",
        (Edit("data/ofa_dataset.py", '"src_tokens": collate_tokens([s["source"] for s in samples], pad),',
              '"src_tokens": collate_tokens([s["source"] for s in samples], pad, left_pad=True),'),),
        (f"{SNLI_DATA}test_collater_batch",),
    ),
    Mutant(
        "prev_output_tokens_left_padded",
        "decoder inputs are padded on the left instead of the right as in OFA, so a shorter row's bos is not "
        "at position 0",
        (Edit("data/ofa_dataset.py",
              '"prev_output_tokens": collate_tokens([s["prev_output_tokens"] for s in samples], pad),',
              '"prev_output_tokens": collate_tokens([s["prev_output_tokens"] for s in samples], pad, left_pad=True),'),),
        ("tests/test_data_caption.py::test_collater_pads_right_and_keeps_references",),
    ),
    Mutant(
        "patch_masks_stacked",
        "patch masks are stacked to [B, 1] instead of concatenated to OFA's [B]",
        (Edit("data/ofa_dataset.py", '"patch_masks": torch.cat([s["patch_mask"] for s in samples]),',
              '"patch_masks": torch.stack([s["patch_mask"] for s in samples]),'),),
        (f"{SNLI_DATA}test_collater_batch",),
    ),
    Mutant(
        "selected_cols_ignored",
        "the task datasets ignore --selected-cols and always read their default columns",
        (Edit("data/ofa_dataset.py",
              "selected_cols if selected_cols else self.DEFAULT_SELECTED_COLS)",
              "self.DEFAULT_SELECTED_COLS)"),),
        ("tests/test_data_caption.py::test_selected_cols_choose_the_id_column",),
    ),
    Mutant(
        "dataset_eos_is_bos",
        "the datasets append bos where OFA appends eos (targets end with bos)",
        (Edit("data/ofa_dataset.py", "self.eos = vocab.dictionary.eos()", "self.eos = vocab.dictionary.bos()"),),
        ("tests/test_data_caption.py::test_sample_layout", f"{SNLI_DATA}test_prev_output_layout"),
    ),
    Mutant(
        "dataset_error_row_zero_based",
        "a data error met while building a sample names the row before its own (0-based row numbers)",
        (Edit("data/ofa_dataset.py", "return DataError(self.reader.path, message, row=index + 1, field=field)",
              "return DataError(self.reader.path, message, row=index, field=field)"),),
        ("tests/test_data_caption.py::test_empty_caption[-the caption]", f"{SNLI_DATA}test_unknown_label"),
    ),
    Mutant(
        "bad_image_error_row_zero_based",
        "a broken image cell is reported at the row before its own",
        (Edit("data/ofa_dataset.py", 'decode_image(row["image"], self.reader.path, index + 1, "image")',
              'decode_image(row["image"], self.reader.path, index, "image")'),),
        ("tests/test_data_caption.py::test_corrupt_image_names_row", f"{SNLI_DATA}test_bad_image_names_row"),
    ),
    Mutant(
        "default_decoder_prompt_is_eos",
        "the decoder input starts with eos instead of OFA's bos",
        (Edit("data/ofa_dataset.py", "decoder_prompt = torch.tensor([self.bos])", "decoder_prompt = torch.tensor([self.eos])"),),
        ("tests/test_data_caption.py::test_sample_layout",),
    ),
    Mutant(
        "patch_mask_false",
        "every sample's patch mask says it has no image, so its patches are masked out",
        (Edit("data/ofa_dataset.py", '"patch_mask": torch.tensor([True]),', '"patch_mask": torch.tensor([False]),'),),
        (f"{SNLI_DATA}test_source_prompt_matches_ofa", f"{SNLI_DATA}test_collater_batch"),
    ),
    Mutant(
        "evaluation_rows_shuffled",
        "validation and test rows are read in a random order instead of file order",
        (Edit("data/ofa_dataset.py", "        return np.arange(len(self))\n",
              "        return np.random.permutation(len(self))\n"),),
        ("tests/test_data_caption.py::test_training_rows_are_reshuffled_each_epoch_and_evaluation_rows_keep_"
         "file_order",),
    ),
    Mutant(
        "batches_overlap_by_one_row",
        "each batch takes one row more than --batch-size, the first row of the next batch: rows are scored "
        "(or trained on) twice",
        (Edit("data/ofa_dataset.py", "return [indices[start:start + max_sentences] for start",
              "return [indices[start:start + max_sentences + 1] for start"),),
        ("tests/test_data_caption.py::test_batches_are_consecutive_runs_of_batch_size_rows",),
    ),
    Mutant(
        "answer_trie_without_eos",
        "the answer trie ends its answers without eos: after a whole answer no token (not even eos) is allowed",
        (Edit("data/constraints.py", "            for token in [bos, *answer, eos]:\n",
              "            for token in [bos, *answer]:\n"),),
        (f"{SNLI_DATA}test_answer_trie_of_several_token_answers_allows_each_next_token_then_only_eos",
         f"{SNLI_DATA}test_prev_output_layout"),
    ),
    Mutant(
        "constraint_mask_skips_the_answer_position",
        "the constraint mask starts one position after the answer: the answer position allows nothing",
        (Edit("data/constraints.py", "        for i in range(answer_start, len(target)):\n",
              "        for i in range(answer_start + 1, len(target)):\n"),),
        (f"{SNLI_DATA}test_prev_output_layout",
         f"{SNLI_DATA}test_answer_trie_of_several_token_answers_allows_each_next_token_then_only_eos"),
    ),
    Mutant(
        "constraint_prefix_includes_the_prompt_padding",
        "the constraint mask's trie prefix is read from the start of the target (its prompt padding included) "
        "instead of from the answer: after a decoder prompt every answer position allows only eos",
        (Edit("data/constraints.py", "answer = target.tolist()[answer_start:]", "answer = target.tolist()"),),
        (f"{SNLI_DATA}test_answer_trie_of_several_token_answers_allows_each_next_token_then_only_eos",),
    ),
    Mutant(
        "answer_candidates_without_leading_space",
        "SNLI-VE answers are encoded without OFA's leading space ('yes' instead of ' yes'), other tokens "
        "than OFA's checkpoints answer with",
        (Edit("data/snli_ve_dataset.py", 'return [(answer, vocab.encode(" " + answer)) for answer in ANSWERS]',
              "return [(answer, vocab.encode(answer)) for answer in ANSWERS]"),),
        (SNLI_DATA + "test_answer_candidates_keep_ofa_order", SNLI_DATA + "test_prev_output_layout"),
    ),
    Mutant(
        "answer_trie_bos_and_eos_swapped",
        "the SNLI-VE answer trie is built with bos and eos swapped: its masks allow nothing but eos at the "
        "answer position",
        (Edit("data/snli_ve_dataset.py", "return AnswerTrie(dictionary.bos(), dictionary.eos(),",
              "return AnswerTrie(dictionary.eos(), dictionary.bos(),"),),
        (SNLI_DATA + "test_prev_output_layout",),
    ),
    Mutant(
        "candidate_masks_without_the_eos_row",
        "each candidate's constraint masks leave out the eos position: the criterion's masks are misaligned "
        "with the scored positions",
        (Edit("data/snli_ve_dataset.py", "trie.constraint_mask(torch.cat([answer, eos]), 0, vocab_size)",
              "trie.constraint_mask(answer, 0, vocab_size)"),),
        (SNLI_DATA + "test_candidate_inputs_score_each_answer",),
    ),
    Mutant(
        "candidate_rows_grouped_by_answer",
        "the candidate rows are laid out answer-major (row c * B + b) instead of prompt-major (b * C + c), so "
        "scores are read back for the wrong row and answer",
        (Edit("data/snli_ve_dataset.py",
              "    for prompt in decoder_prompts:\n        for answer, mask in zip(candidates, answer_masks):\n",
              "    for answer, mask in zip(candidates, answer_masks):\n        for prompt in decoder_prompts:\n"),),
        (SNLI_DATA + "test_candidate_inputs_score_each_answer",),
    ),
    Mutant(
        "snli_ve_unknown_prompt_type_accepted",
        "an unknown --prompt-type is accepted when the dataset is built and fails only on its first row",
        (Edit("data/snli_ve_dataset.py", "        if prompt_type not in PROMPT_TYPES:\n", "        if False:\n"),),
        (SNLI_DATA + "test_other_prompt_types[none-<lambda>]",),
    ),
    Mutant(
        "snli_ve_constraint_masks_always_built",
        "SNLI-VE samples carry constraint masks even when they are turned off",
        (Edit("data/snli_ve_dataset.py", "self.trie = answer_trie(vocab) if constraint_masks else None",
              "self.trie = answer_trie(vocab)"),),
        (SNLI_DATA + "test_other_prompt_types[none-<lambda>]",),
    ),
    Mutant(
        "snli_ve_text_not_cut_to_max_src_length",
        "SNLI-VE premise and hypothesis are not cut to --max-src-length words as in OFA",
        (Edit("data/snli_ve_dataset.py", "normalize_sentence(row[field], self.max_src_length)",
              "normalize_sentence(row[field], None)"),),
        (SNLI_DATA + "test_words_are_cut_to_max_src_length",),
    ),
    Mutant(
        "snli_ve_empty_text_accepted",
        "an SNLI-VE hypothesis or premise that is empty after cleaning is accepted instead of refused naming "
        "its row and field",
        (Edit("data/snli_ve_dataset.py", "        if not text:\n", "        if False:\n"),),
        (SNLI_DATA + "test_empty_text[3-hypothesis]", SNLI_DATA + "test_empty_text[4-caption]"),
    ),
    Mutant(
        "snli_ve_unknown_label_not_refused",
        "an unknown SNLI-VE label fails with a bare KeyError instead of a data error naming its row",
        (Edit("data/snli_ve_dataset.py", "        if label not in LABEL_TO_ANSWER:\n", "        if False:\n"),),
        (SNLI_DATA + "test_unknown_label",),
    ),
    Mutant(
        "snli_ve_premise_and_hypothesis_swapped",
        "with --add-caption the prompt puts the hypothesis as text1 and the premise as text2, the other way "
        "round from OFA",
        (Edit("data/snli_ve_dataset.py", """prompt = f' can image and text1 " {premise} " imply text2 " {hypothesis} "?'""",
              """prompt = f' can image and text1 " {hypothesis} " imply text2 " {premise} "?'"""),),
        (SNLI_DATA + "test_source_prompt_matches_ofa",),
    ),
    Mutant(
        "snli_ve_src_prompt_without_eos",
        "--prompt-type src gives the decoder the source without its eos (as prev_output does) instead of the "
        "whole source, as OFA",
        (Edit("data/snli_ve_dataset.py", '"src": source,', '"src": source[:-1],'),),
        (SNLI_DATA + "test_other_prompt_types[src-<lambda>]",),
    ),
    Mutant(
        "snli_ve_default_prompt_type_none",
        "an SNLI-VE dataset built without a prompt type uses 'none' instead of OFA's recipes' prev_output",
        (Edit("data/snli_ve_dataset.py", 'prompt_type: str = "prev_output",', 'prompt_type: str = "none",'),),
        (SNLI_DATA + "test_prev_output_layout",),
    ),
    Mutant(
        "snli_ve_collater_needs_constraint_masks",
        "an SNLI-VE dataset built without constraint masks cannot collate a batch (KeyError on the missing "
        "masks)",
        (Edit("data/snli_ve_dataset.py",
              "            if self.trie is not None:\n                batch[\"constraint_masks\"]",
              "            if True:\n                batch[\"constraint_masks\"]"),),
        (SNLI_DATA + "test_collater_without_constraint_masks",),
    ),
    Mutant(
        "default_selected_cols_start_at_one",
        "a TSV read without --selected-cols is read from its second field on",
        (Edit("data/tsv.py", "        return list(range(num_columns))\n", "        return list(range(1, num_columns + 1))\n"),),
        ("tests/test_data_tsv.py::test_selected_cols_pick_and_order_fields",
         "tests/test_data_tsv.py::test_rows_by_offset_in_any_order"),
    ),
    Mutant(
        "selected_cols_count_unchecked",
        "--selected-cols with more positions than the dataset's columns is accepted, silently ignoring the rest",
        (Edit("data/tsv.py", "if len(positions) != num_columns or min(positions) < 0:",
              "if min(positions) < 0:"),),
        ("tests/test_data_tsv.py::test_selected_cols_pick_and_order_fields",),
    ),
    Mutant(
        "selected_cols_rows_need_exactly_the_columns",
        "with --selected-cols a row must have exactly as many fields as the highest selected position needs, "
        "so OFA's files with further columns are refused",
        (Edit("data/tsv.py", "self._exact = selected_cols is None", "self._exact = True"),),
        ("tests/test_data_tsv.py::test_selected_cols_pick_and_order_fields",),
    ),
    Mutant(
        "rows_with_extra_fields_accepted",
        "without --selected-cols a row with a stray tab (one field too many) is accepted, shifting nothing but "
        "silently dropping its last field",
        (Edit("data/tsv.py", "self._exact = selected_cols is None", "self._exact = False"),),
        ("tests/test_data_tsv.py::test_extra_field_without_selection_is_an_error",),
    ),
    Mutant(
        "tsv_field_count_one_short",
        "rows are indexed with one field fewer than they have: a complete row is refused as missing a column",
        (Edit("data/tsv.py", 'self._check_field_count(line.count(b"\\t") + 1, row)',
              'self._check_field_count(line.count(b"\\t"), row)'),),
        ("tests/test_data_tsv.py::test_rows_by_offset_in_any_order",),
    ),
    Mutant(
        "empty_tsv_accepted",
        "an empty TSV file is accepted as a split of no rows instead of refused",
        (Edit("data/tsv.py", "        if len(offsets) == 1:\n", "        if len(offsets) == 0:\n"),),
        ("tests/test_data_tsv.py::test_empty_and_absent_files",),
    ),
    Mutant(
        "absent_tsv_not_a_data_error",
        "an absent TSV file fails with a bare FileNotFoundError instead of a data error naming it",
        (Edit("data/tsv.py", "        if not os.path.isfile(self.path):\n", "        if False:\n"),),
        ("tests/test_data_tsv.py::test_empty_and_absent_files",),
    ),
    Mutant(
        "selected_rows_need_only_as_many_fields_as_columns",
        "with --selected-cols a row needs only as many fields as there are columns, not enough to reach the "
        "highest selected position: a short row fails later with an IndexError",
        (Edit("data/tsv.py", "        needed = max(self.positions) + 1\n", "        needed = len(self.positions)\n"),),
        ("tests/test_data_tsv.py::test_missing_selected_column_names_it",),
    ),
    Mutant(
        "missing_column_names_the_last_missing_field",
        "a row missing several selected columns is reported at the last of them instead of the first",
        (Edit("data/tsv.py", "            missing = min(\n", "            missing = max(\n"),),
        ("tests/test_data_tsv.py::test_missing_selected_column_names_it",),
    ),
    Mutant(
        "tsv_reads_the_next_rows_bytes",
        "row i is read from the byte range of row i + 1",
        (Edit("data/tsv.py", "start, end = self._offsets[index], self._offsets[index + 1]",
              "start, end = self._offsets[index + 1], self._offsets[min(index + 2, len(self))]"),),
        ("tests/test_data_tsv.py::test_rows_by_offset_in_any_order",),
    ),
    Mutant(
        "image_mean_not_half",
        "patch images are normalised with mean 0.45 instead of OFA's 0.5: every pixel shifted",
        (Edit("data/images.py", "IMAGE_MEAN = (0.5, 0.5, 0.5)", "IMAGE_MEAN = (0.45, 0.45, 0.45)"),),
        (IMAGES + "test_transform_resizes_bicubic_and_normalises",),
    ),
    Mutant(
        "unpadded_base64_refused",
        "base64 cells without their '=' padding (as in OFA's files) are refused as invalid",
        (Edit("data/images.py", 'base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))',
              "base64.urlsafe_b64decode(data)"),),
        (IMAGES + "test_decodes_png_with_or_without_padding[False-True]",
         IMAGES + "test_decodes_png_with_or_without_padding[False-False]"),
    ),
    Mutant(
        "standard_base64_alphabet",
        "image cells are decoded with the standard base64 alphabet, which drops OFA's URL-safe '-' and '_'",
        (Edit("data/images.py", 'base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))',
              'base64.b64decode(data + "=" * (-len(data) % 4))'),),
        (IMAGES + "test_urlsafe_cells_decode_their_dash_and_underscore_characters",),
    ),
    Mutant(
        "int32_images_by_pillows_conversion",
        "32-bit integer (mode I) images, as Pillow opens 16-bit PNG and TIFF data, go through Pillow's RGB "
        "conversion, which clips them instead of scaling 65535 to white",
        (Edit("data/images.py", 'SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")',
              'SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")'),),
        (IMAGES + "test_every_pillow_mode_becomes_the_rgb_picture_it_shows[I-9]",),
    ),
    Mutant(
        "sixteen_bit_divided_by_256",
        "16-bit grey levels are divided by 256 instead of 257: 65535 rounds to 256 and wraps to black",
        (Edit("data/images.py", ".clip(0, 65535) / 257)", ".clip(0, 65535) / 256)"),),
        (IMAGES + "test_every_pillow_mode_becomes_the_rgb_picture_it_shows[I;16-6]",),
    ),
    Mutant(
        "float_grey_not_clipped",
        "floating-point grey values above 1 or below 0 wrap around in uint8 instead of showing white or black",
        (Edit("data/images.py", "np.nan_to_num(np.asarray(image, dtype=np.float64)).clip(0, 1) * 255",
              "np.nan_to_num(np.asarray(image, dtype=np.float64)) * 255"),),
        (IMAGES + "test_grey_levels_round_to_the_nearest_and_clip_to_black_and_white[float-above-clips]",
         IMAGES + "test_grey_levels_round_to_the_nearest_and_clip_to_black_and_white[float-below-clips]"),
    ),
    Mutant(
        "transparent_pixels_on_black",
        "transparent pixels are composited onto black instead of white",
        (Edit("data/images.py", "BACKGROUND = (255, 255, 255)", "BACKGROUND = (0, 0, 0)"),),
        (IMAGES + "test_every_pillow_mode_becomes_the_rgb_picture_it_shows[RGBA-3]",),
    ),
    Mutant(
        "background_composited_over_the_image",
        "the white background is composited over the image instead of under it: every alpha image is white",
        (Edit("data/images.py", "Image.alpha_composite(background, image.convert(\"RGBA\"))",
              "Image.alpha_composite(image.convert(\"RGBA\"), background)"),),
        (IMAGES + "test_every_pillow_mode_becomes_the_rgb_picture_it_shows[RGBA-4]",
         IMAGES + "test_every_pillow_mode_becomes_the_rgb_picture_it_shows[LA-12]"),
    ),
    Mutant(
        "decompression_bomb_warning_let_through",
        "an image over PIL's pixel limit (but under twice it) is decoded with a warning instead of refused",
        (Edit("data/images.py", '            warnings.simplefilter("error", Image.DecompressionBombWarning)\n', ""),),
        (IMAGES + "test_decompression_bomb_becomes_data_error[over-limit-warning]",),
    ),
    Mutant(
        "patch_images_resized_bilinear",
        "patch images are resized bilinearly instead of OFA's bicubic",
        (Edit("data/images.py", "interpolation=transforms.InterpolationMode.BICUBIC",
              "interpolation=transforms.InterpolationMode.BILINEAR"),),
        (IMAGES + "test_transform_resizes_bicubic_and_normalises",),
    ),
    Mutant(
        "patch_images_keep_aspect_ratio",
        "patch images are resized by their shorter side, keeping the aspect ratio, instead of to OFA's square",
        (Edit("data/images.py", "transforms.Resize((size, size),", "transforms.Resize(size,"),),
        (IMAGES + "test_transform_resizes_bicubic_and_normalises",),
    ),
    Mutant(
        "imagenet_option_inverted",
        "--imagenet-default-mean-and-std is inverted: ImageNet's statistics without it, [-1, 1] with it",
        (Edit("data/images.py", "if imagenet_default_mean_and_std else (IMAGE_MEAN, IMAGE_STD)",
              "if not imagenet_default_mean_and_std else (IMAGE_MEAN, IMAGE_STD)"),),
        (IMAGES + "test_transform_resizes_bicubic_and_normalises",
         IMAGES + "test_imagenet_option_normalises_with_imagenets_mean_and_std"),
    ),
    Mutant(
        "code_dict_one_short",
        "the default image-code table has 8191 <code_i> symbols instead of OFA's 8192: every <bin_i> id is one "
        "less than in OFA's checkpoints",
        (Edit("data/vocabulary.py", "DEFAULT_CODE_DICT_SIZE = 8192", "DEFAULT_CODE_DICT_SIZE = 8191"),),
        ("tests/test_data_vocabulary.py::test_dictionary_layout",),
    ),
    Mutant(
        "num_bins_one_short",
        "the default location table has 999 <bin_i> symbols instead of OFA's 1000: the dictionary is one "
        "symbol short of OFA's checkpoints' embeddings",
        (Edit("data/vocabulary.py", "DEFAULT_NUM_BINS = 1000", "DEFAULT_NUM_BINS = 999"),),
        ("tests/test_data_vocabulary.py::test_dictionary_layout",),
    ),
    Mutant(
        "code_symbols_start_at_one",
        "the image-code symbols run <code_1>..<code_8192> instead of <code_0>..<code_8191>",
        (Edit("data/vocabulary.py", "    for i in range(code_dict_size):\n", "    for i in range(1, code_dict_size + 1):\n"),),
        ("tests/test_data_vocabulary.py::test_dictionary_layout",),
    ),
    Mutant(
        "absent_bpe_file_not_a_data_error",
        "a --bpe-dir missing one of the vocabulary files fails inside fairseq instead of with a data error "
        "naming the file",
        (Edit("data/vocabulary.py", "    if not path.is_file():\n", "    if False:\n"),),
        ("tests/test_data_vocabulary.py::test_missing_bpe_file_is_named[encoder.json]",
         "tests/test_data_vocabulary.py::test_missing_bpe_file_is_named[dict.txt]"),
    ),
    Mutant(
        "encoded_text_ends_with_eos",
        "encoded text always ends with eos (fairseq's encode_line default): prompts and answers get an eos "
        "more than OFA's",
        (Edit("data/vocabulary.py", "add_if_not_exist=False, append_eos=False", "add_if_not_exist=False, append_eos=True"),),
        ("tests/test_data_caption.py::test_sample_layout", SNLI_DATA + "test_answer_candidates_keep_ofa_order"),
    ),
    Mutant(
        "encode_suffix_is_bos",
        "add_eos appends bos instead of eos",
        (Edit("data/vocabulary.py", "suffix = [self.dictionary.eos()] if add_eos else []",
              "suffix = [self.dictionary.bos()] if add_eos else []"),),
        ("tests/test_data_vocabulary.py::test_encode_with_bos_eos_and_decode_ignores_specials",),
    ),
    Mutant(
        "decode_writes_padding",
        "decoded text holds '<pad>' for every padding token of a batch row",
        (Edit("data/vocabulary.py", "self.dictionary.string(tokens, extra_symbols_to_ignore={self.dictionary.pad()})",
              "self.dictionary.string(tokens)"),),
        ("tests/test_data_vocabulary.py::test_encode_with_bos_eos_and_decode_ignores_specials",),
    ),
    Mutant(
        "vocabulary_load_swaps_code_and_bin_sizes",
        "OFAVocabulary.load passes the number of bins as the code table's size and the other way round",
        (Edit("data/vocabulary.py", "load_ofa_dictionary(bpe_dir, code_dict_size, num_bins))",
              "load_ofa_dictionary(bpe_dir, num_bins, code_dict_size))"),),
        ("tests/test_data_vocabulary.py::test_dictionary_layout",),
    ),
    Mutant(
        "malformed_dict_txt_not_a_data_error",
        "a malformed dict.txt fails with fairseq's bare ValueError instead of a data error naming the file",
        (Edit("data/vocabulary.py", "    except (ValueError, RuntimeError) as error:\n",
              "    except RuntimeError as error:\n"),),
        ("tests/test_data_vocabulary.py::test_malformed_files_are_data_errors",),
    ),
    Mutant(
        "caption_references_not_split",
        "a caption cell's references are not split at '&&': the whole cell is one reference, the target runs "
        "all references together",
        (Edit("data/caption_dataset.py", 'REFERENCE_SEPARATOR = "&&"', 'REFERENCE_SEPARATOR = "\\t"'),),
        ("tests/test_data_caption.py::test_sample_layout",),
    ),
    Mutant(
        "empty_sample_list_collated",
        "collating an empty list of samples fails inside fairseq's collate_tokens instead of giving the empty "
        "batch fairseq skips",
        (Edit("data/ofa_dataset.py", "    if not samples:\n        return {}\n", ""),),
        ("tests/test_data_caption.py::test_an_empty_batch_collates_to_nothing", f"{SNLI_DATA}test_collater_batch"),
    ),
    Mutant(
        "dataset_error_without_field",
        "a data error met while building a sample does not name the field it is in",
        (Edit("data/ofa_dataset.py", "message, row=index + 1, field=field)", "message, row=index + 1, field=None)"),),
        ("tests/test_data_caption.py::test_empty_caption[-the caption]", f"{SNLI_DATA}test_unknown_label"),
    ),
    Mutant(
        "answer_position_allows_eos",
        "the answer trie allows eos wherever it allows an answer token: SNLI-VE's answer position may be an "
        "empty answer",
        (Edit("data/constraints.py", "        return list(node)\n", "        return list(node) + [self.eos]\n"),),
        (f"{SNLI_DATA}test_prev_output_layout",
         f"{SNLI_DATA}test_answer_trie_of_several_token_answers_allows_each_next_token_then_only_eos"),
    ),
    Mutant(
        "snli_ve_sample_answer_is_the_label",
        "an SNLI-VE sample's gold answer is its label word ('entailment') instead of OFA's answer ('yes'), so "
        "no prediction is ever counted right",
        (Edit("data/snli_ve_dataset.py", '        sample["answer"] = answer\n', '        sample["answer"] = label\n'),),
        (SNLI_DATA + "test_source_prompt_matches_ofa", SNLI_DATA + "test_collater_batch"),
    ),
    Mutant(
        "snli_ve_constraint_masks_time_major",
        "collated SNLI-VE constraint masks are laid out [T, B, V] instead of [B, T, V]",
        (Edit("data/snli_ve_dataset.py", "pad_sequence(list(masks), batch_first=True,",
              "pad_sequence(list(masks), batch_first=False,"),),
        (SNLI_DATA + "test_collater_batch", SNLI_DATA + "test_collated_constraint_masks_allow_nothing_at_padding"),
    ),
    Mutant(
        "snli_ve_prompt_without_caption_misworded",
        "without --add-caption the SNLI-VE prompt reads ' does the image describe \" {hypothesis} \"' without "
        "OFA's question mark",
        (Edit("data/snli_ve_dataset.py", """prompt = f' does the image describe " {hypothesis} "?'""",
              """prompt = f' does the image describe " {hypothesis} "'"""),),
        (SNLI_DATA + "test_source_prompt_matches_ofa",),
    ),
    Mutant(
        "snli_ve_none_prompt_keeps_the_first_word",
        "--prompt-type none gives the decoder bos and the source's first token instead of bos alone",
        (Edit("data/snli_ve_dataset.py", '{"none": source[:1],', '{"none": source[:2],'),),
        (SNLI_DATA + "test_other_prompt_types[none-<lambda>]",),
    ),
    Mutant(
        "tsv_index_errors_name_rows_zero_based",
        "a field-count error found while indexing a TSV names the row before its own",
        (Edit("data/tsv.py", "for row, line in enumerate(handle, start=1):", "for row, line in enumerate(handle, start=0):"),),
        ("tests/test_data_tsv.py::test_missing_column_names_file_row_and_field",
         "tests/test_data_tsv.py::test_blank_line_is_an_error_not_skipped"),
    ),
    Mutant(
        "tsv_read_errors_name_rows_zero_based",
        "an error found while reading a TSV row (invalid UTF-8) names the row before its own",
        (Edit("data/tsv.py", "        row = index + 1\n", "        row = index\n"),),
        ("tests/test_data_tsv.py::test_invalid_utf8_names_row_and_field",),
    ),
    Mutant(
        "tsv_complete_rows_refused",
        "without --selected-cols a row with exactly its columns is refused as having too many fields",
        (Edit("data/tsv.py", "if self._exact and num_fields > needed:", "if self._exact and num_fields >= needed:"),),
        ("tests/test_data_tsv.py::test_rows_by_offset_in_any_order",),
    ),
    Mutant(
        "truncated_image_error_not_a_data_error",
        "a truncated or otherwise unreadable image cell fails with Pillow's bare OSError instead of a data "
        "error naming its file, row and field",
        (Edit("data/images.py", "    except (OSError, SyntaxError, ValueError) as error:\n",
              "    except (SyntaxError, ValueError) as error:\n"),),
        (IMAGES + "test_bad_cells_name_file_row_and_field[truncated-pixel-data]",),
    ),
    Mutant(
        "la_alpha_ignored",
        "grey images with alpha (LA) are converted as if opaque: transparent pixels show their grey level "
        "instead of the white background",
        (Edit("data/images.py", 'ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")', 'ALPHA_MODES = ("RGBA", "RGBa", "La", "PA")'),),
        (IMAGES + "test_every_pillow_mode_becomes_the_rgb_picture_it_shows[LA-11]",),
    ),
    Mutant(
        "bpe_dir_ignored",
        "--bpe-dir is ignored: the shipped vocabulary files are always read",
        (Edit("data/vocabulary.py", "path = Path(bpe_dir if bpe_dir is not None else default_bpe_dir()) / name",
              "path = Path(default_bpe_dir()) / name"),),
        ("tests/test_data_vocabulary.py::test_missing_bpe_file_is_named[encoder.json]",
         "tests/test_data_vocabulary.py::test_malformed_files_are_data_errors"),
    ),
    Mutant(
        "malformed_encoder_json_not_a_data_error",
        "a malformed encoder.json fails with a bare JSONDecodeError instead of a data error naming the file",
        (Edit("data/vocabulary.py", "    except json.JSONDecodeError as error:\n", "    except KeyError as error:\n"),),
        ("tests/test_data_vocabulary.py::test_malformed_files_are_data_errors",),
    ),
    Mutant(
        "encoded_text_always_starts_with_bos",
        "encoded text starts with bos even when not asked: answers and caption targets get a bos OFA's lack",
        (Edit("data/vocabulary.py", "prefix = [self.dictionary.bos()] if add_bos else []",
              "prefix = [self.dictionary.bos()]"),),
        (SNLI_DATA + "test_answer_candidates_keep_ofa_order",),
    ),
    Mutant(
        "tsv_negative_row_index_read",
        "a negative row index is not refused with the reader's IndexError but read from a nonsense byte range",
        (Edit("data/tsv.py", "if not 0 <= index < len(self):", "if not index < len(self):"),),
        ("tests/test_data_tsv.py::test_rows_by_offset_in_any_order",),
    ),
    Mutant(
        "sample_uniq_id_from_the_last_column",
        "a sample's uniq_id is read from its last selected column instead of its id column",
        (Edit("data/ofa_dataset.py", '"uniq_id": row[self.COLUMNS[0]],', '"uniq_id": row[self.COLUMNS[-1]],'),),
        ("tests/test_data_caption.py::test_sample_layout", f"{SNLI_DATA}test_source_prompt_matches_ofa"),
    ),
    Mutant(
        "caption_sample_keeps_only_the_first_reference",
        "a caption sample keeps only its first cleaned reference: SCST rewards and --eval-cider score against "
        "one reference instead of all",
        (Edit("data/caption_dataset.py", '        sample["references"] = references\n',
              '        sample["references"] = references[:1]\n'),),
        ("tests/test_data_caption.py::test_sample_layout",),
    ),
    Mutant(
        "answer_trie_flat",
        "the answer trie hangs every token from its root: after bos it allows any answer token and eos, and a "
        "several-token answer's continuation is lost",
        (Edit("data/constraints.py", "                node = node.setdefault(int(token), {})\n",
              "                node = self._root.setdefault(int(token), {})\n"),),
        (f"{SNLI_DATA}test_answer_trie_of_several_token_answers_allows_each_next_token_then_only_eos",
         f"{SNLI_DATA}test_prev_output_layout"),
    ),
    Mutant(
        "patch_images_concatenated",
        "a batch's patch images are concatenated to [3B, H, W] instead of stacked to [B, 3, H, W]",
        (Edit("data/ofa_dataset.py", '"patch_images": torch.stack([s["patch_image"] for s in samples]),',
              '"patch_images": torch.cat([s["patch_image"] for s in samples]),'),),
        ("tests/test_data_caption.py::test_collater_pads_right_and_keeps_references", f"{SNLI_DATA}test_collater_batch"),
    ),
    Mutant(
        "caption_batch_without_split",
        "a caption batch does not carry its split, so per-split validation (CIDEr-D document frequencies, "
        "tallies) cannot tell its splits apart",
        (Edit("data/caption_dataset.py", '            batch["split"] = self.split\n', ""),),
        ("tests/test_data_caption.py::test_collater_pads_right_and_keeps_references",),
    ),
    Mutant(
        "tsv_cells_decoded_as_latin1",
        "TSV cells are decoded as Latin-1 instead of UTF-8: every non-ASCII character is garbled",
        (Edit("data/tsv.py", '            return cell.decode("utf-8")\n', '            return cell.decode("latin-1")\n'),),
        ("tests/test_data_tsv.py::test_rows_by_offset_in_any_order",),
    ),
    Mutant(
        "snli_ve_text_not_cleaned",
        "SNLI-VE premise and hypothesis reach the prompt as written (case, hyphens, slashes kept), not cleaned "
        "as OFA's pre_caption does",
        (Edit("data/snli_ve_dataset.py", "text = normalize_sentence(row[field], self.max_src_length)",
              'text = " ".join(row[field].split()[: self.max_src_length])'),),
        (SNLI_DATA + "test_source_prompt_matches_ofa",),
    ),
    Mutant(
        "bpe_decode_of_id_strings",
        "the GPT-2 decoder is given the ids as strings: decoding any generated text fails",
        (Edit("data/vocabulary.py", "decode([int(piece) if piece.isdigit() else piece for piece in x.split()])",
              "decode([piece for piece in x.split()])"),),
        ("tests/test_data_vocabulary.py::test_encode_with_bos_eos_and_decode_ignores_specials",
         "tests/test_data_caption.py::test_training_targets_are_cut_to_max_tgt_length"),
    ),
    Mutant(
        "decoder_embeddings_scaled_despite_no_scale_embedding",
        "the decoder scales its token embeddings by sqrt(dim) exactly when --no-scale-embedding asks it not to",
        (Edit("models/decoder.py",
              "        self.embed_scale = 1.0 if args.no_scale_embedding else dim**0.5\n",
              "        self.embed_scale = dim**0.5 if args.no_scale_embedding else 1.0\n"),),
        (ARCHITECTURE + "test_embeddings_enter_unscaled_as_in_ofa[ofa_tiny]",),
    ),
    Mutant(
        "decoder_adds_no_positions_to_tokens",
        "the decoder's token embeddings get no position embeddings added (as with --disable-entangle) in every "
        "OFA architecture, where OFA adds them",
        (Edit("models/decoder.py",
              '        self.add_positions_to_tokens = not getattr(args, "disable_entangle", False)\n',
              '        self.add_positions_to_tokens = getattr(args, "disable_entangle", False)\n'),),
        (ARCHITECTURE + "test_architecture_defaults_no_shape_shows_are_ofas[ofa_tiny]",),
    ),
    Mutant(
        "decoder_position_bias_scaled_by_head_dim_only",
        "the decoder's absolute position biases are scaled by head_dim ** -0.5, without OFA's attn_scale_factor",
        (Edit("models/decoder.py",
              "        self.pos_scaling = (dim / self.num_heads * args.attn_scale_factor) ** -0.5\n",
              "        self.pos_scaling = (dim / self.num_heads) ** -0.5\n"),),
        (ARCHITECTURE + "test_architecture_defaults_no_shape_shows_are_ofas[ofa_tiny]",),
    ),
    Mutant(
        "decoder_drop_path_rate_constant_over_layers",
        "every decoder layer drops paths at --decoder-drop-path-rate, where OFA grows the rate linearly from 0",
        (Edit("models/decoder.py",
              "rates = torch.linspace(0, args.decoder_drop_path_rate, args.decoder_layers",
              "rates = torch.linspace(args.decoder_drop_path_rate, args.decoder_drop_path_rate, args.decoder_layers"),),
        ("tests/test_ofa_layers.py::test_drop_path_rates_grow_linearly_from_zero_over_the_layers_as_in_ofa",),
    ),
    Mutant(
        "decoder_output_projection_untied",
        "the decoder's output projection is a weight of its own instead of the token embeddings (OFA ties them)",
        (Edit("models/decoder.py",
              "        self.output_projection.weight = self.embed_tokens.weight\n",
              "\n"),),
        ("tests/test_ofa_habits_model.py::"
         "test_buffers_and_the_tied_output_projection_a_checkpoint_lacks_are_rebuilt_as_in_ofa",),
    ),
    Mutant(
        "hidden_to_logits_without_the_final_layer_norm",
        "an intermediate layer's state is projected to the vocabulary without the shared final layer norm: "
        "entropy exits and layer-wise losses see other distributions than the model's",
        (Edit("models/decoder.py",
              "        return self.output_projection(self.layer_norm(hidden))\n",
              "        return self.output_projection(hidden)\n"),),
        ("tests/test_layerwise_criterion.py::test_gradients_reach_every_decoder_layer_and_last_term_equals_plain_loss",),
    ),
    Mutant(
        "cached_decoder_call_reads_only_the_last_token",
        "a cached decoder call runs only the last of its new tokens (as fairseq's one-token-per-step habit): "
        "several new tokens in one call (drafts verified at once) lose all but the last",
        (Edit("models/decoder.py",
              "        tokens = prev_output_tokens[:, past:]\n",
              "        tokens = prev_output_tokens[:, -1:] if past else prev_output_tokens\n"),),
        ("tests/test_lossless_decoding.py::test_rows_with_different_cache_lengths_decode_as_each_row_alone",),
    ),
    Mutant(
        "ragged_cache_masks_from_one_slot_late",
        "rows whose cache holds fewer positions than the widest attend to the first empty slot beyond their "
        "own positions",
        (Edit("models/decoder.py",
              "self_padding[:, :past] |= torch.arange(past, device=device) >= lengths.unsqueeze(1)",
              "self_padding[:, :past] |= torch.arange(past, device=device) > lengths.unsqueeze(1)"),),
        ("tests/test_lossless_decoding.py::test_rows_with_different_cache_lengths_decode_as_each_row_alone",),
    ),
    Mutant(
        "decoder_ignores_encoder_padding",
        "the decoder's cross-attention attends to the padding positions of the encoder output",
        (Edit("models/decoder.py",
              "        cross_padding = cross_padding if cross_padding.any() else None\n",
              "        cross_padding = None\n"),),
        (ARCHITECTURE + "test_padding_does_not_change_outputs",),
    ),
    Mutant(
        "decoder_granularity_ignored",
        "the decoder always exits per token, whatever the session's --decoder-exit-granularity",
        (Edit("models/decoder.py",
              "        granularity = TOKEN_EXITS if session is None else session.decoder_granularity\n",
              "        granularity = TOKEN_EXITS\n"),),
        ("tests/test_exit_granularity.py::test_step_exits_stop_every_token_of_a_call_at_the_deepest_choice",),
    ),
    Mutant(
        "ragged_rows_exit_tested_at_slot_positions",
        "rows of different cache lengths have their new tokens' exits decided at the call's slot positions "
        "instead of each row's own positions",
        (Edit("models/decoder.py",
              "            if lengths is not None:\n                token_positions = biases.queries\n",
              "            if False:\n                token_positions = biases.queries\n"),),
        ("tests/test_lossless_decoding.py::test_rows_with_different_cache_lengths_decode_as_each_row_alone",),
    ),
    Mutant(
        "dense_layer_updates_exited_tokens",
        "'auto' granularity, after a layer run densely: exited tokens take that layer's output instead of "
        "keeping the state they stopped with",
        (Edit("models/decoder.py",
              "                    x_out = torch.where(active.unsqueeze(-1), x_out, x)\n",
              "                    pass\n"),),
        ("tests/test_exit_granularity.py::test_auto_granularity_keeps_the_per_token_decisions_packed_or_dense",),
    ),
    Mutant(
        "decoder_cache_prepends_new_entries",
        "each decoder call's new keys/values are put before the cached ones: later tokens see the positions "
        "in the wrong order",
        (Edit("models/decoder.py",
              "torch.cat([old, new], dim=2) for old, new in zip(past_kv, new_kv)",
              "torch.cat([new, old], dim=2) for old, new in zip(past_kv, new_kv)"),),
        (INFERENCE + "test_incremental_decoding_with_exits_matches_recomputing_the_prefix",),
    ),
    Mutant(
        "ragged_new_entries_left_after_the_widest_slot",
        "rows of different cache lengths keep their new keys/values after the widest row's slots instead of "
        "at their own positions",
        (Edit("models/decoder.py",
              "    return cached.scatter(2, queries[:, None, :, None].expand_as(new), new)\n",
              "    return cached\n"),),
        ("tests/test_lossless_decoding.py::test_rows_continue_after_rejected_drafts_with_the_tokens_that_replace_them[rows_kept]",),
    ),
    Mutant(
        "decoder_records_every_call_as_tested",
        "a decoder call without an exit rule (static depths, exits off) is recorded as if each layer's exit "
        "test ran",
        (Edit("models/decoder.py",
              "tested=exit_rule is not None, depth=self.num_layers)",
              "tested=True, depth=self.num_layers)"),),
        (INFERENCE + "test_a_decoder_without_an_exit_rule_records_no_exit_tests",),
    ),
    Mutant(
        "decoder_features_without_the_final_layer_norm",
        "the decoder's features leave out the final layer norm before the output projection",
        (Edit("models/decoder.py",
              "        return self.layer_norm(x), extra\n",
              "        return x, extra\n"),),
        (DECODER_REFERENCE,),
    ),
    Mutant(
        "position_tables_outgrow_the_position_embeddings",
        "a generation's position tables, once outgrown, double beyond the decoder's position embeddings",
        (Edit("models/decoder.py",
              "capacity = max(total, min(grown, self.embed_positions.num_embeddings, self.token_rp_bucket.size(0)))",
              "capacity = max(total, grown)"),),
        (INFERENCE + "test_position_tables_stay_within_a_short_position_table",),
    ),
    Mutant(
        "beam_reorder_leaves_the_self_attention_cache",
        "beam search's reordering leaves the decoder's self-attention cache in its old row order: a beam "
        "continues another beam's prefix",
        (Edit("models/decoder.py",
              "None if kv is None else tuple(t.index_select(0, new_order) for t in kv) for kv in cache[\"self_kv\"]",
              "None if kv is None else tuple(t for t in kv) for kv in cache[\"self_kv\"]"),),
        (INFERENCE + "test_a_reordered_cache_continues_each_rows_new_prefix",),
    ),
    Mutant(
        "reorder_leaves_the_ragged_cache_lengths",
        "reordering rows of different cache lengths keeps each slot's old length",
        (Edit("models/decoder.py",
              '            cache["lengths"] = cache["lengths"].index_select(0, new_order)\n',
              "            pass\n"),),
        ("tests/test_lossless_decoding.py::test_rows_continue_after_rejected_drafts_with_the_tokens_that_replace_them[rows_reordered]",),
    ),
    Mutant(
        "reorder_never_follows_finished_rows_in_the_cross_attention_cache",
        "when finished sentences leave the batch, the cross-attention cache keeps the old rows: later steps "
        "attend to another sample's image and text",
        (Edit("models/decoder.py",
              "        if torch.equal(new_source, source):\n            return\n",
              "        if True:\n            return\n"),),
        (INFERENCE + "test_a_reordered_cache_continues_each_rows_new_prefix",),
    ),
    Mutant(
        "cache_width_read_from_the_head_axis",
        "the decoder reports its cache's width as the number of heads",
        (Edit("models/decoder.py",
              "        return 0 if kv is None else kv[0].size(2)\n",
              "        return 0 if kv is None else kv[0].size(1)\n"),),
        ("tests/test_lossless_decoding.py::test_rows_with_different_cache_lengths_decode_as_each_row_alone",),
    ),
    Mutant(
        "truncation_keeps_the_shortest_rows_width",
        "truncating the decoder cache to each row's accepted length cuts every row to the shortest one",
        (Edit("models/decoder.py",
              "        width = int(lengths.max())\n",
              "        width = int(lengths.min())\n"),),
        ("tests/test_lossless_decoding.py::test_rows_with_different_cache_lengths_decode_as_each_row_alone",),
    ),
    Mutant(
        "truncation_forgets_ragged_lengths",
        "truncating the decoder cache to rows of different lengths forgets each row's length: shorter rows "
        "attend to the rejected drafts' slots and continue at the widest row's position",
        (Edit("models/decoder.py",
              "        if bool(lengths.eq(width).all()):\n",
              "        if True:\n"),),
        ("tests/test_lossless_decoding.py::test_rows_with_different_cache_lengths_decode_as_each_row_alone",),
    ),
    Mutant(
        "decoder_position_bias_without_pos_ln",
        "the decoder's absolute position biases are computed from the raw position embeddings, without OFA's "
        "pos_ln",
        (Edit("models/decoder.py",
              "        normed = decoder.pos_ln(self.positions)\n",
              "        normed = self.positions\n"),),
        (DECODER_REFERENCE,),
    ),
    Mutant(
        "decoder_self_position_bias_query_key_swapped",
        "the decoder's self-attention absolute position bias takes queries from self_pos_k_linear and keys from "
        "self_pos_q_linear (the transpose of OFA's)",
        (Edit("models/decoder.py",
              "absolute_bias(decoder.self_pos_q_linear, decoder.self_pos_k_linear, normed, normed,",
              "absolute_bias(decoder.self_pos_k_linear, decoder.self_pos_q_linear, normed, normed,"),),
        (DECODER_REFERENCE,),
    ),
    Mutant(
        "decoder_sees_its_own_position",
        "the decoder's causal mask lets each position attend to the next one",
        (Edit("models/decoder.py",
              "dtype=torch.bool, device=device).triu(1)",
              "dtype=torch.bool, device=device).triu(2)"),),
        (INFERENCE + "test_incremental_decoding_with_exits_matches_recomputing_the_prefix",),
    ),
    Mutant(
        "decoder_masks_its_own_position",
        "the decoder's causal mask also hides each position from itself",
        (Edit("models/decoder.py",
              "dtype=torch.bool, device=device).triu(1)",
              "dtype=torch.bool, device=device).triu(0)"),),
        (DECODER_REFERENCE,),
    ),
    Mutant(
        "decoder_cross_position_bias_from_raw_positions",
        "the decoder's cross-attention position bias takes its queries from the raw target position "
        "embeddings instead of the pos_ln-normalised ones",
        (Edit("models/decoder.py",
              "absolute_bias(decoder.cross_pos_q_linear, decoder.cross_pos_k_linear, normed, source_positions,",
              "absolute_bias(decoder.cross_pos_q_linear, decoder.cross_pos_k_linear, self.positions, source_positions,"),),
        (DECODER_REFERENCE,),
    ),
    Mutant(
        "decoder_relative_bias_transposed",
        "the decoder's relative position bias reads bucket (j, i) for query i and key j",
        (Edit("models/decoder.py",
              "decoder.token_rp_bucket[: self.capacity, : self.capacity])",
              "decoder.token_rp_bucket[: self.capacity, : self.capacity].t())"),),
        (DECODER_REFERENCE,),
    ),
    Mutant(
        "decoder_every_layer_takes_the_first_layers_relative_bias",
        "every decoder layer uses the first layer's relative position bias instead of its own table",
        (Edit("models/decoder.py",
              "relative = relative_bias(decoder.token_rel_pos_table_list[layer],",
              "relative = relative_bias(decoder.token_rel_pos_table_list[0],"),),
        (DECODER_REFERENCE,),
    ),
    Mutant(
        "incremental_cross_bias_of_the_first_positions",
        "a cached decoder call takes the cross-attention position bias of positions 0.. instead of its own "
        "positions",
        (Edit("models/decoder.py",
              "        self.cross_attention = tables.cross[:, :, past:total]\n",
              "        self.cross_attention = tables.cross[:, :, : total - past]\n"),),
        (INFERENCE + "test_incremental_decoding_with_exits_matches_recomputing_the_prefix",),
    ),
    Mutant(
        "incremental_token_positions_of_the_first_positions",
        "a cached decoder call adds the position embeddings of positions 0.. to its tokens instead of their "
        "own positions'",
        (Edit("models/decoder.py",
              "        self.token_positions = tables.positions[:, past:total]\n",
              "        self.token_positions = tables.positions[:, : total - past]\n"),),
        (INFERENCE + "test_incremental_decoding_with_exits_matches_recomputing_the_prefix",),
    ),
    Mutant(
        "ragged_queries_one_position_late",
        "rows of different cache lengths put their new tokens one position after their own count",
        (Edit("models/decoder.py",
              "self.queries = lengths.unsqueeze(1) + torch.arange(total - past, device=lengths.device)",
              "self.queries = lengths.unsqueeze(1) + 1 + torch.arange(total - past, device=lengths.device)"),),
        ("tests/test_lossless_decoding.py::test_rows_with_different_cache_lengths_decode_as_each_row_alone",),
    ),
    Mutant(
        "packed_exit_lets_exited_tokens_run_again",
        "once some tokens have exited, the next exit test's result replaces the running set: tokens that "
        "stopped earlier run the later layers again",
        (Edit("models/decoder.py",
              "masked_scatter(active, stop_packed)\n    exit_layers.masked_fill_(stop, index + 1)\n    return active & ~stop\n",
              "masked_scatter(active, stop_packed)\n    exit_layers.masked_fill_(stop, index + 1)\n    return ~stop\n"),),
        (MIXED + "test_tokens_of_one_step_stop_at_different_layers_with_their_own_states",),
    ),
    Mutant(
        "dense_exit_recorded_one_layer_short",
        "'auto' granularity, after a layer run densely: a token that stops after layer i is recorded as having "
        "run i - 1 layers",
        (Edit("models/decoder.py",
              "    stop = rule.should_exit(index, x_in, x_out, positions, token_ids) & active\n"
              "    exit_layers.masked_fill_(stop, index + 1)\n",
              "    stop = rule.should_exit(index, x_in, x_out, positions, token_ids) & active\n"
              "    exit_layers.masked_fill_(stop, index)\n"),),
        (SIMILARITY_GRANULARITY + "test_dense_layers_keep_the_exit_layers_of_tokens_that_stopped_before",),
    ),
    Mutant(
        "packed_exit_test_gets_renumbered_token_ids",
        "once some tokens have exited, the decoder's exit rule gets the running tokens numbered 0.. instead of "
        "their own ids: per-token state (patience counts) goes to other tokens",
        (Edit("models/decoder.py",
              "grid.pack(positions), grid.index)",
              "grid.pack(positions), torch.arange(int(active.sum()), device=active.device))"),),
        (INFERENCE + "test_exit_rules_get_each_tokens_own_number_after_others_exited",),
    ),
    Mutant(
        "packed_exit_recorded_one_layer_short",
        "once some tokens have exited, a running token that stops after layer i is recorded as having run "
        "i - 1 layers",
        (Edit("models/decoder.py",
              "    stop = torch.zeros_like(active).masked_scatter(active, stop_packed)\n"
              "    exit_layers.masked_fill_(stop, index + 1)\n",
              "    stop = torch.zeros_like(active).masked_scatter(active, stop_packed)\n"
              "    exit_layers.masked_fill_(stop, index)\n"),),
        (MIXED + "test_tokens_of_one_step_stop_at_different_layers_with_their_own_states",),
    ),
    Mutant(
        "attention_accepts_a_width_the_heads_do_not_divide",
        "an attention whose width the head count does not divide is built without complaint (and fails later "
        "inside a reshape, or splits heads unevenly)",
        (Edit("models/attention.py",
              "        if embed_dim % num_heads:\n            raise ValueError(",
              "        if False:\n            raise ValueError("),),
        (ATTENTION + "test_a_width_the_heads_do_not_divide_is_refused",),
    ),
    Mutant(
        "attention_heads_split_without_transpose",
        "the attention splits [B, T, D] into heads by reshaping to [B, H, T, d] directly, mixing positions "
        "and heads",
        (Edit("models/attention.py",
              "        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)\n",
              "        return x.view(batch, self.num_heads, length, self.head_dim)\n"),),
        tuple(f"{ATTENTION}test_attention_scales_biases_masks_and_weights_heads_as_ofa[{factor}]"
              for factor in ("2.0", "3.0")),
    ),
    Mutant(
        "attention_keys_and_values_swapped",
        "the attention's keys come from v_proj and its values from k_proj",
        (Edit("models/attention.py",
              "        return self.split_heads(self.k_proj(x)), self.split_heads(self.v_proj(x))\n",
              "        return self.split_heads(self.v_proj(x)), self.split_heads(self.k_proj(x))\n"),),
        tuple(f"{ATTENTION}test_attention_scales_biases_masks_and_weights_heads_as_ofa[{factor}]"
              for factor in ("2.0", "3.0")),
    ),
    Mutant(
        "attention_padding_mask_inverted",
        "the attention attends only to padded keys and removes the real ones",
        (Edit("models/attention.py",
              "mask = torch.where(blocked, torch.finfo(query.dtype).min, allowed)",
              "mask = torch.where(~blocked, torch.finfo(query.dtype).min, allowed)"),),
        tuple(f"{ATTENTION}test_attention_scales_biases_masks_and_weights_heads_as_ofa[{factor}]"
              for factor in ("2.0", "3.0")),
    ),
    Mutant(
        "attention_bias_dropped_with_padding",
        "when keys are padded, the attention drops the position bias and keeps only the padding mask",
        (Edit("models/attention.py",
              "allowed = torch.zeros((), dtype=query.dtype, device=query.device) if mask is None else mask",
              "allowed = torch.zeros((), dtype=query.dtype, device=query.device)"),),
        tuple(f"{ATTENTION}test_attention_scales_biases_masks_and_weights_heads_as_ofa[{factor}]"
              for factor in ("2.0", "3.0")),
    ),
    Mutant(
        "recorded_attention_unscaled",
        "the recorded attention probabilities leave out the query scaling the attention applies",
        (Edit("models/attention.py",
              "scores = (self.split_heads(query) * self.scaling) @ key.transpose(-1, -2)",
              "scores = self.split_heads(query) @ key.transpose(-1, -2)"),),
        (ATTENTION + "test_recorded_probabilities_are_the_ones_the_attention_uses",),
    ),
    Mutant(
        "attention_heads_merged_without_transpose",
        "the attention merges its heads back by reshaping [B, H, T, d] to [B, T, D] directly, mixing positions "
        "and heads",
        (Edit("models/attention.py",
              "        return out.transpose(1, 2).reshape(batch, length, self.embed_dim)\n",
              "        return out.reshape(batch, length, self.embed_dim)\n"),),
        tuple(f"{ATTENTION}test_attention_scales_biases_masks_and_weights_heads_as_ofa[{factor}]"
              for factor in ("2.0", "3.0")),
    ),
    Mutant(
        "meta_model_vocabulary_one_short",
        "models.builders.build_meta_model's default vocabulary is one symbol short of OFA's 59457",
        (Edit("models/builders.py", "vocab_size: int = 59457", "vocab_size: int = 59456"),),
        ("tests/test_model_architecture.py::test_key_shapes_follow_ofa_layout[ofa_tiny-256-1024-4-4]",),
    ),
    Mutant(
        "meta_model_built_in_memory",
        "models.builders.build_meta_model allocates and initialises every weight (gigabytes for ofa_huge) "
        "instead of building on the meta device",
        (Edit("models/builders.py", '    with torch.device("meta"):\n', "    if True:\n"),),
        (ARCHITECTURE + "test_a_meta_model_holds_no_weights",),
    ),
    Mutant(
        "store_ema_averages_only_integer_buffers",
        "fairseq-train --store-ema copies the floating-point weights and tries to average the integer buffers",
        (Edit("ofa_mue/ema_buffers.py",
              "if torch.is_tensor(value) and not torch.is_floating_point(value)}",
              "if torch.is_tensor(value) and torch.is_floating_point(value)}"),),
        ("tests/test_ofa_training_options.py::test_store_ema_averages_weights_and_copies_integer_buffers",),
    ),
    Mutant(
        "checkpoint_loading_seeds_an_ema_without_store_ema",
        "fairseq-train without --store-ema takes the EMA branch of checkpoint loading (turning --store-ema on "
        "for a trainer that has no EMA)",
        (Edit("ofa_mue/ema_buffers.py",
              "    if not self.cfg.ema.store_ema:\n        return _fairseq_load_checkpoint(self, filename, *args, **kwargs)\n",
              ""),),
        ("tests/test_ofa_training_options.py::test_store_ema_starts_from_a_checkpoint_without_one[finetune_from_model]",),
    ),
    Mutant(
        "store_ema_left_off_after_loading",
        "after loading a checkpoint, --store-ema stays switched off: the EMA is never updated nor saved",
        (Edit("ofa_mue/ema_buffers.py",
              "    finally:\n        self.cfg.ema.store_ema = True\n",
              "    finally:\n        pass\n"),),
        ("tests/test_ofa_training_options.py::test_store_ema_averages_weights_and_copies_integer_buffers",),
    ),
    Mutant(
        "store_ema_fails_without_a_checkpoint",
        "fairseq-train --store-ema with no checkpoint to load fails (TypeError) instead of starting the EMA "
        "from the model as built",
        (Edit("ofa_mue/ema_buffers.py",
              "    if extra_state is None:  # no checkpoint: the EMA starts from the model as built\n        return extra_state\n",
              ""),),
        ("tests/test_ofa_training_options.py::test_store_ema_averages_weights_and_copies_integer_buffers",),
    ),
    Mutant(
        "store_ema_resumed_from_the_model_weights",
        "fairseq-train --store-ema resumed from its own checkpoint restarts the EMA from the checkpoint's model "
        "weights, dropping the average the checkpoint holds",
        (Edit("ofa_mue/ema_buffers.py",
              '        self.ema.restore(extra_state["ema"], build_fp32_params=False)\n',
              "        self.ema.restore(self.get_model().state_dict(), build_fp32_params=False)\n"),),
        ("tests/test_ofa_training_options.py::test_store_ema_resumes_the_average_its_checkpoint_holds",),
    ),
    Mutant(
        "store_ema_checkpoint_holding_an_ema_treated_as_without_one",
        "fairseq-train --store-ema treats a checkpoint that holds an EMA as one without (and fails with "
        "KeyError 'ema' on one without)",
        (Edit("ofa_mue/ema_buffers.py", '    if "ema" in extra_state:\n', '    if "ema" not in extra_state:\n'),),
        ("tests/test_ofa_training_options.py::test_store_ema_starts_from_a_checkpoint_without_one[finetune_from_model]",),
    ),
    Mutant(
        "decoder_returns_features_for_logits",
        "the decoder returns its final-normalised features where the logits are asked for, and the logits "
        "where features_only asks for features",
        (Edit("models/decoder.py",
              "        return (x if features_only else self.output_layer(x)), extra\n",
              "        return (self.output_layer(x) if features_only else x), extra\n"),),
        (DECODER_REFERENCE,),
    ),
    Mutant(
        "disentangled_decoder_adds_positions_to_tokens",
        "a decoder built with --disable-entangle (the Hugging Face port's models) still adds position "
        "embeddings to its token embeddings",
        (Edit("models/decoder.py",
              "        if self.add_positions_to_tokens:\n            x = x + biases.token_positions\n",
              "        if True:\n            x = x + biases.token_positions\n"),),
        (DECODER_REFERENCE_DISENTANGLED,),
    ),
    Mutant(
        "decoder_self_padding_never_masked",
        "the decoder's self-attention never masks keys: rows whose cache holds fewer positions than the "
        "widest attend to the empty or stale slots beyond their own",
        (Edit("models/decoder.py",
              "        self_padding = self_padding if self_padding.any() else None\n",
              "        self_padding = None\n"),),
        ("tests/test_lossless_decoding.py::test_rows_with_different_cache_lengths_decode_as_each_row_alone",),
    ),
    Mutant(
        "cached_call_tested_at_positions_from_zero",
        "a cached decoder call's tokens are tested for exit as if they were at positions 0.. instead of their "
        "own positions (a decaying threshold restarts at every step)",
        (Edit("models/decoder.py",
              "            token_positions = torch.arange(past, total, device=device).expand(batch, length)\n",
              "            token_positions = torch.arange(0, length, device=device).expand(batch, length)\n"),),
        (INFERENCE + "test_incremental_decoding_with_exits_matches_recomputing_the_prefix",),
    ),
    Mutant(
        "decoder_token_ids_numbered_by_column",
        "the decoder's exit rules get the tokens of a call numbered position by position (column-major) "
        "instead of their flat index in the [B, T] grid",
        (Edit("models/decoder.py",
              "            token_ids = torch.arange(batch * length, device=device).view(batch, length)\n",
              "            token_ids = torch.arange(batch * length, device=device).view(length, batch).t()\n"),),
        (INFERENCE + "test_exit_rules_get_each_tokens_own_number_after_others_exited",),
    ),
    Mutant(
        "decoder_layers_run_after_every_token_exited",
        "once every token of a call has exited, the later decoder layers still run (on no token) instead of "
        "only projecting the keys/values the cache needs",
        (Edit("models/decoder.py",
              "            if active is not None and not active.any():\n",
              "            if False:\n"),),
        (INFERENCE + "test_exited_samples_and_tokens_leave_later_layers",),
    ),
    Mutant(
        "decoder_records_one_layer_less_depth",
        "a decoder call records the decoder one layer shallower than it is: the FLOPs count charges a cached "
        "call's keys/values and exit tests for one layer less",
        (Edit("models/decoder.py",
              "tested=exit_rule is not None, depth=self.num_layers)",
              "tested=exit_rule is not None, depth=self.num_layers - 1)"),),
        (FLOPS + "test_counts_of_a_generation_with_exits_equal_torchs_flop_counter",),
    ),
    Mutant(
        "ragged_window_ignores_the_row_lengths",
        "a cached call on rows of different lengths takes position terms as if every row held the widest "
        "row's positions",
        (Edit("models/decoder.py",
              '        return tables.window(past, total, cache.get("lengths"))\n',
              "        return tables.window(past, total)\n"),),
        ("tests/test_lossless_decoding.py::test_rows_with_different_cache_lengths_decode_as_each_row_alone",),
    ),
    Mutant(
        "decoder_positions_offset_as_fairseqs_learned_positions",
        "the decoder embeds position t with row t + 2 of its position table (fairseq's learned positional "
        "embedding habit) instead of row t as OFA does",
        (Edit("models/decoder.py",
              "        self.positions = decoder.embed_positions(torch.arange(capacity, device=device)).unsqueeze(0)\n",
              "        self.positions = decoder.embed_positions(torch.arange(2, capacity + 2, device=device)).unsqueeze(0)\n"),),
        (DECODER_REFERENCE,),
    ),
    Mutant(
        "ragged_new_keys_at_their_slots",
        "rows of different cache lengths give their new tokens' keys the call's slot positions instead of "
        "their own positions in the relative and absolute self-attention bias",
        (Edit("models/decoder.py",
              "torch.arange(past, device=lengths.device).expand(len(lengths), past), self.queries], 1)",
              "torch.arange(past, device=lengths.device).expand(len(lengths), past), "
              "torch.arange(past, total, device=lengths.device).expand(len(lengths), total - past)], 1)"),),
        ("tests/test_lossless_decoding.py::test_rows_with_different_cache_lengths_decode_as_each_row_alone",),
    ),
    Mutant(
        "ragged_self_bias_queries_and_keys_swapped",
        "rows of different cache lengths read the self-attention bias with query and key positions swapped",
        (Edit("models/decoder.py",
              "        return bias[:, self.queries.unsqueeze(2), self.keys.unsqueeze(1)].transpose(0, 1)\n",
              "        return bias[:, self.keys.unsqueeze(1), self.queries.unsqueeze(2)].transpose(0, 1)\n"),),
        ("tests/test_lossless_decoding.py::test_rows_with_different_cache_lengths_decode_as_each_row_alone",),
    ),
    Mutant(
        "cached_decoder_layers_share_the_first_cross_keys",
        "in cached decoding every decoder layer attends over the first layer's cross-attention keys/values "
        "instead of its own projections of the encoder output",
        (Edit("models/decoder.py",
              "            cross[index] = layer.cross_key_value(encoder_states)\n",
              "            cross[index] = cross[0] if index else layer.cross_key_value(encoder_states)\n"),),
        (INFERENCE + "test_incremental_decoding_with_exits_matches_recomputing_the_prefix",),
    ),
    Mutant(
        "decoder_image_positions_one_short",
        "the decoder's image position table holds image_bucket_size ** 2 rows, one short of OFA's: official "
        "checkpoints no longer load",
        (Edit("models/decoder.py",
              "        self.embed_image_positions = nn.Embedding(args.image_bucket_size**2 + 1, dim)\n",
              "        self.embed_image_positions = nn.Embedding(args.image_bucket_size**2, dim)\n"),),
        (ARCHITECTURE + "test_state_dict_names_and_shapes_equal_ofa_reference[ofa_tiny]",),
    ),
    Mutant(
        "decoder_code_layernorm_embedding_never_built",
        "the decoder never builds code_layernorm_embedding: official checkpoints, which hold it, no longer load",
        (Edit("models/decoder.py",
              "        self.code_layernorm_embedding = nn.LayerNorm(dim) if args.code_layernorm_embedding else None\n",
              "        self.code_layernorm_embedding = None\n"),),
        (ARCHITECTURE + "test_state_dict_names_and_shapes_equal_ofa_reference[ofa_tiny]",),
    ),
    Mutant(
        "replaced_text_none_mode_replaces",
        "--replace-text none still replaces every row's hypothesis with another row's, so the plain "
        "evaluation scores swapped text",
        (Edit("ofa_mue/replaced_text.py", '    if mode == "none":\n        return dataset\n', ""),),
        ("tests/test_replaced_images.py::test_replace_text_gives_each_row_another_rows_hypothesis_and_keeps_image_and_label",),
    ),
    Mutant(
        "replaced_text_caption_refusal_dropped",
        "--replace-text other on captioning is accepted instead of refused, though captioning has no "
        "hypothesis to replace",
        (Edit("ofa_mue/replaced_text.py",
              '    if FIELD not in dataset.COLUMNS:\n        raise ConfigError(',
              '    if False:\n        raise ConfigError('),),
        ("tests/test_replaced_images.py::test_replace_text_gives_each_row_another_rows_hypothesis_and_keeps_image_and_label",),
    ),
    Mutant(
        "replaced_text_other_mode_ignored",
        "--replace-text other evaluates the rows with their own hypotheses, so the image-only check "
        "measures nothing",
        (Edit("ofa_mue/replaced_text.py", '    if mode == "none":\n', '    if mode in MODES:\n'),),
        ("tests/test_replaced_images.py::test_replace_text_gives_each_row_another_rows_hypothesis_and_keeps_image_and_label",),
    ),
    Mutant(
        "hf_special_token_ids_not_checked",
        "a port config whose pad/bos/eos ids differ from fairseq's dictionary converts to a model reading the wrong tokens",
        (Edit("models/hf_mapping.py", "        if c[name] != value:\n", "        if False:\n"),),
        (f"{CONVERT}test_config_settings_that_cannot_be_reproduced_are_refused[setting3-pad_token_id 0]",),
    ),
    Mutant(
        "hf_layerdrop_not_refused",
        "a port config with LayerDrop converts silently into a model that never drops layers",
        (Edit("models/hf_mapping.py", "        if c[name]:\n            refused.append(f\"{name} {c[name]} (no LayerDrop here)\")",
              "        if False:\n            refused.append(f\"{name} {c[name]} (no LayerDrop here)\")"),),
        (f"{CONVERT}test_config_settings_that_cannot_be_reproduced_are_refused[setting1-encoder_layerdrop 0.1]",),
    ),
    Mutant(
        "hf_unknown_activation_not_refused",
        "a port config with an activation fairseq lacks crashes with a KeyError instead of naming the setting",
        (Edit("models/hf_mapping.py", "    if c[\"activation_function\"] not in ACTIVATIONS:\n", "    if False:\n"),),
        (f"{CONVERT}test_one_sided_or_untied_port_settings_are_refused[silu]",),
    ),
    Mutant(
        "hf_unknown_resnet_not_refused",
        "a port config with an unknown ResNet type crashes with a KeyError instead of naming the setting",
        (Edit("models/hf_mapping.py", "    if c[\"resnet_type\"] not in HF_RESNETS:\n", "    if False:\n"),),
        (f"{CONVERT}test_config_settings_that_cannot_be_reproduced_are_refused[setting2-resnet_type 'resnet9']",),
    ),
    Mutant(
        "hf_attn_scale_factor_not_refused",
        "a port config with attn_scale_factor other than 2 converts into a model that scales attention differently",
        (Edit("models/hf_mapping.py", "    if c[\"attn_scale_factor\"] != 2.0:\n", "    if False:\n"),),
        (f"{CONVERT}test_config_settings_that_cannot_be_reproduced_are_refused[setting0-attn_scale_factor 3.0]",),
    ),
    Mutant(
        "hf_disable_entangle_not_inverted",
        "a port model that adds positions to decoder tokens converts into one that does not (and vice versa)",
        (Edit("models/hf_mapping.py", "disable_entangle=not c[\"entangle_position_embedding\"],",
              "disable_entangle=c[\"entangle_position_embedding\"],"),),
        (f"{CONVERT}test_port_options_of_differing_encoder_and_decoder_go_to_their_own_side_and_back",),
    ),
    Mutant(
        "hf_normformer_ignored_for_scale_attn",
        "a port model without normformer converts into one with the attention mid layer norm switched on",
        (Edit("models/hf_mapping.py", "scale_attn=c[\"normformer\"],", "scale_attn=True,"),),
        (f"{CONVERT}test_port_options_without_a_shape_map_to_fairseq_ofas",),
    ),
    Mutant(
        "hf_max_target_positions_fixed",
        "a port config with 512 positions converts into a decoder with 1024 learned positions",
        (Edit("models/hf_mapping.py", "max_target_positions=c[\"max_position_embeddings\"],",
              "max_target_positions=1024,"),),
        (f"{CONVERT}test_port_options_of_differing_encoder_and_decoder_go_to_their_own_side_and_back",),
    ),
    Mutant(
        "to_hf_normformer_always_on",
        "a fairseq model without the normformer layer norms is written back as a port config with normformer on",
        (Edit("models/hf_mapping.py", "normformer=bool(args.scale_attn),", "normformer=True,"),),
        (f"{CONVERT}test_port_options_of_differing_encoder_and_decoder_go_to_their_own_side_and_back",),
    ),
    Mutant(
        "to_hf_decompose_modalities_not_refused",
        "a model that decomposes modalities is written as a port config the port runs differently",
        (Edit("models/hf_mapping.py", "    if getattr(args, \"decompose_modalities\", False):\n", "    if False:\n"),),
        (f"{CONVERT}test_to_hf_refuses_what_the_port_cannot_run",),
    ),
    Mutant(
        "to_hf_resnet_base_channels_not_refused",
        "a model with a narrower ResNet stem is written as a port config claiming 64 channels",
        (Edit("models/hf_mapping.py", "    if getattr(args, \"resnet_base_channels\", 64) != 64:\n", "    if False:\n"),),
        (f"{CONVERT}test_to_hf_refuses_what_the_port_cannot_run",),
    ),
    Mutant(
        "to_hf_attn_scale_factor_not_refused",
        "a model with another attn_scale_factor is written as a port config that scales attention by 2",
        (Edit("models/hf_mapping.py", "    if args.attn_scale_factor != 2.0:\n", "    if False:\n"),),
        (f"{CONVERT}test_to_hf_refuses_models_the_port_would_run_otherwise[attn-scale]",),
    ),
    Mutant(
        "hf_layer_names_not_renamed",
        "converted weights keep the port's layer submodule names, so the mid layer norms and cross attention are missing",
        (Edit("models/hf_mapping.py", "{names[side].get(module, module)}", "{module}"),),
        (f"{CONVERT}test_the_ports_weights_of_a_task_head_model_lose_their_model_prefix",),
    ),
    Mutant(
        "hf_unknown_keys_not_refused",
        "port weights the model has no place for are dropped silently instead of refused",
        (Edit("models/hf_mapping.py", "    if unknown:\n", "    if False:\n"),),
        (f"{CONVERT}test_what_cannot_be_mapped_is_refused_by_name[<lambda>-cannot map: encoder.layers.0.extra_norm.weight]",),
    ),
    Mutant(
        "hf_tied_embeddings_not_compared",
        "port weights with an untied output projection convert with the encoder's embedding in its place",
        (Edit("models/hf_mapping.py", "        if not torch.equal(source[key], embedding):\n", "        if False:\n"),),
        (f"{CONVERT}test_what_cannot_be_mapped_is_refused_by_name[<lambda>-OFA ties them]",),
    ),
    Mutant(
        "hf_rebuilt_buffers_not_checked",
        "port weights whose relative-position buckets disagree with the config convert silently with rebuilt ones",
        (Edit("models/hf_mapping.py", "            _check_rebuilt_buffer(key, mapped[key], reference[key])\n", "            pass\n"),),
        (f"{CONVERT}test_what_cannot_be_mapped_is_refused_by_name[<lambda>-buffer decoder.token_rp_bucket differs]",),
    ),
    Mutant(
        "hf_code_index_not_cut_when_checked",
        "every real port checkpoint is refused, its 1025-long image_position_idx compared with fairseq's 1026",
        (Edit("models/hf_mapping.py", "rebuilt[: len(given)] if key == \"decoder.image_position_idx\" else rebuilt",
              "rebuilt"),),
        (f"{CONVERT}test_from_hf_gives_a_fairseq_checkpoint_with_every_weight_in_place",),
    ),
    Mutant(
        "to_hf_code_index_not_cut",
        "written port weights carry a 1026-long image_position_idx the port cannot load",
        (Edit("models/hf_mapping.py", "            value = value[:-1]  #", "            value = value  #"),),
        (f"{CONVERT}test_to_hf_gives_back_the_ports_names_shapes_and_values",),
    ),
    Mutant(
        "to_hf_layer_names_wrong_direction",
        "written port weights keep fairseq's layer submodule names, which the port does not load",
        (Edit("models/hf_mapping.py", "        hf_state[rename_layer_key(key, OUR_LAYER_NAMES)] = value\n",
              "        hf_state[rename_layer_key(key, HF_LAYER_NAMES)] = value\n"),),
        (f"{CONVERT}test_to_hf_gives_back_the_ports_names_shapes_and_values",),
    ),
    Mutant(
        "to_hf_version_buffers_kept",
        "written port weights carry fairseq's version buffers, unexpected keys for the port",
        (Edit("models/hf_mapping.py", "        if key.endswith(\".version\"):\n", "        if False:\n"),),
        (f"{CONVERT}test_to_hf_gives_back_the_ports_names_shapes_and_values",),
    ),
    Mutant(
        "from_hf_vocab_size_not_checked",
        "a port config whose vocabulary differs from OFA's dictionary converts into a model with misaligned token ids",
        (Edit("ofa_mue/convert.py", "    if vocab_size != dictionary_size:\n", "    if False:\n"),),
        (f"{CONVERT}test_from_hf_refuses_a_vocabulary_other_than_ofas_dictionary",),
    ),
    Mutant(
        "to_hf_vocab_size_from_decoder_dim",
        "the written port config has the embedding width as vocab_size",
        (Edit("ofa_mue/convert.py", "    vocab_size = state[\"model\"][\"encoder.embed_tokens.weight\"].size(0)\n",
              "    vocab_size = state[\"model\"][\"encoder.embed_tokens.weight\"].size(1)\n"),),
        (f"{CONVERT}test_to_hf_gives_back_the_ports_names_shapes_and_values",),
    ),
    Mutant(
        "checkpoint_arch_not_checked",
        "converting a checkpoint of a non-OFA architecture is not refused by name",
        (Edit("ofa_mue/convert.py", "    if arch not in ARCHITECTURES + (\"ofa_demo\",):\n", "    if False:\n"),),
        (f"{CONVERT}test_to_hf_refuses_a_checkpoint_of_another_architecture",),
    ),
    Mutant(
        "one_line_first_wrapped_error",
        "a worker's traceback text with several ofa_mue errors ends on the first, not the one that ended the worker",
        (Edit("ofa_mue/one_line_errors.py", "            return wrapped[-1]\n", "            return wrapped[0]\n"),),
        ("tests/test_reliability.py::test_one_line_message_finds_the_ofa_mue_error_behind_another[worker-traceback-text]",),
    ),
    Mutant(
        "one_line_ignores_context",
        "an ofa_mue error being handled when another exception was raised ends in a traceback, not its one line",
        (Edit("ofa_mue/one_line_errors.py", "        error = error.__cause__ or error.__context__\n",
              "        error = error.__cause__\n"),),
        ("tests/test_reliability.py::test_one_line_message_finds_the_ofa_mue_error_behind_another[context]",),
    ),
    Mutant(
        "one_line_ignores_cause",
        "an ofa_mue error re-raised as the cause of another exception ends in a traceback, not its one line",
        (Edit("ofa_mue/one_line_errors.py", "        error = error.__cause__ or error.__context__\n",
              "        error = error.__context__ if error.__cause__ is None else None\n"),),
        ("tests/test_reliability.py::test_one_line_message_finds_the_ofa_mue_error_behind_another[cause]",),
    ),
    Mutant(
        "one_line_wrapped_first_line_only",
        "a worker's traceback text is searched only at its start, so the ofa_mue error in it ends in a traceback",
        (Edit("ofa_mue/one_line_errors.py", "(.+)$\", re.MULTILINE)", "(.+)$\")"),),
        ("tests/test_reliability.py::test_one_line_message_finds_the_ofa_mue_error_behind_another[worker-traceback-text]",),
    ),
    Mutant(
        "to_hf_embedding_widths_not_refused",
        "a model with differing encoder and decoder widths is written as a port config with the encoder's width for both",
        (Edit("models/hf_mapping.py", "    if args.encoder_embed_dim != args.decoder_embed_dim:\n", "    if False:\n"),),
        (f"{CONVERT}test_to_hf_refuses_models_the_port_would_run_otherwise[embedding-widths]",),
    ),
    Mutant(
        "to_hf_activation_not_refused",
        "a model with an activation the port lacks crashes with a KeyError instead of naming the option",
        (Edit("models/hf_mapping.py", "    if args.activation_fn not in activations:\n", "    if False:\n"),),
        (f"{CONVERT}test_to_hf_refuses_models_the_port_would_run_otherwise[activation]",),
    ),
    Mutant(
        "to_hf_unknown_resnet_not_refused",
        "a model with a ResNet depth the port lacks crashes with an IndexError instead of naming the option",
        (Edit("models/hf_mapping.py", "    if not hf_resnets:\n", "    if False:\n"),),
        (f"{CONVERT}test_to_hf_refuses_models_the_port_would_run_otherwise[resnet-blocks]",),
    ),
    Mutant(
        "hf_model_prefix_cut_when_any_key_has_it",
        "a plain port state dict with one key starting with model. has that key cut and mapped as if it were the model's",
        (Edit("models/hf_mapping.py", 'all(key.startswith("model.") for key in state_dict)',
              'any(key.startswith("model.") for key in state_dict)'),),
        (f"{CONVERT}test_the_ports_keys_keep_a_model_prefix_that_not_all_of_them_have",),
    ),
    Mutant(
        "hf_invalid_config_json_not_named",
        "a port folder with a broken config.json ends in a JSON traceback instead of naming the file",
        (Edit("ofa_mue/convert.py", "    except (json.JSONDecodeError, UnicodeDecodeError) as error:\n",
              "    except UnicodeDecodeError as error:\n"),),
        (f"{CONVERT}test_from_hf_refuses_a_port_folder_it_cannot_read_by_file[config-not-json]",),
    ),
    Mutant(
        "hf_unreadable_weights_not_named",
        "a port folder whose weights file is not a state dict ends in an unpickling traceback instead of naming the file",
        (Edit("ofa_mue/convert.py", "    except Exception as error:  # torch and safetensors",
              "    except KeyError as error:  # torch and safetensors"),),
        (f"{CONVERT}test_from_hf_refuses_a_port_folder_it_cannot_read_by_file[weights-not-a-state-dict]",),
    ),
    Mutant(
        "atomic_failure_leaves_temporary",
        "a write that fails before the rename leaves its temporary file behind beside the result files",
        (Edit("ofa_mue/atomic_files.py",
              "            os.remove(temporary)\n",
              "            pass\n"),),
        ("tests/test_reliability.py::test_output_files_are_replaced_atomically",),
    ),
    Mutant(
        "atomic_output_folder_not_created",
        "writing a result file into a folder that does not exist yet fails instead of creating the folder",
        (Edit("ofa_mue/atomic_files.py",
              "    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)\n",
              ""),),
        ("tests/test_reliability.py::test_output_files_are_replaced_atomically",),
    ),
    Mutant(
        "atomic_failure_swallowed",
        "a failed atomic write is silently swallowed: the command reports success while the result file "
        "was never written",
        (Edit("ofa_mue/atomic_files.py",
              "            os.remove(temporary)\n        raise\n",
              "            os.remove(temporary)\n"),),
        ("tests/test_reliability.py::test_output_files_are_replaced_atomically",),
    ),
    Mutant(
        "atomic_temporary_loses_extension",
        "the temporary file does not keep the result's extension, so writers that pick their format by "
        "the extension (numpy, torch, safetensors) write the wrong format or fail",
        (Edit("ofa_mue/atomic_files.py",
              "    temporary = f\"{root}.tmp-{os.getpid()}{extension}\"",
              "    temporary = f\"{path}.tmp-{os.getpid()}\""),),
        ("tests/test_reliability.py::test_output_files_are_replaced_atomically",),
    ),
    Mutant(
        "step_quantile_zero_accepted",
        "--exit-step-quantile 0 is accepted instead of refused: a step call would stop after its first layer whatever its tokens chose",
        (Edit("ofa_mue/core/exit_granularity.py",
              'and 0.0 < self.quantile <= 1.0)',
              'and 0.0 <= self.quantile <= 1.0)'),),
        ("tests/test_exit_granularity.py::test_bad_granularity_options_are_clear_errors[quantile_zero]",),
    ),
    Mutant(
        "step_quantile_above_one_accepted",
        "--exit-step-quantile above 1 is accepted instead of refused: it asks for more stopped tokens than a call has",
        (Edit("ofa_mue/core/exit_granularity.py",
              'and 0.0 < self.quantile <= 1.0)',
              'and 0.0 < self.quantile <= 2.0)'),),
        ("tests/test_exit_granularity.py::test_bad_granularity_options_are_clear_errors[quantile_above_one]",),
    ),
    Mutant(
        "negative_launch_flops_accepted",
        "a negative --exit-launch-flops is accepted instead of refused: auto would pack even when packing costs more",
        (Edit("ofa_mue/core/exit_granularity.py",
              'self.launch_flops >= 0)',
              'self.launch_flops >= -1e300)'),),
        ("tests/test_exit_granularity.py::test_bad_granularity_options_are_clear_errors[negative_launch_flops]",),
    ),
    Mutant(
        "step_quantile_accepted_outside_step",
        "--exit-step-quantile with --exit-granularity token or auto is silently ignored instead of refused",
        (Edit("ofa_mue/core/exit_granularity.py",
              '        if self.quantile != 1.0 and self.mode != "step":',
              '        if False:'),),
        ("tests/test_exit_granularity.py::test_bad_granularity_options_are_clear_errors[quantile_outside_step]",),
    ),
    Mutant(
        "packing_pays_on_a_tie",
        "auto packs the running tokens when the saved work only equals the launches packing adds (or nothing is saved at all)",
        (Edit("ofa_mue/core/exit_granularity.py",
              'return exited * flops_per_token > PACK_OPERATIONS',
              'return exited * flops_per_token >= PACK_OPERATIONS'),),
        ("tests/test_exit_granularity.py::test_cost_model_packs_when_the_saved_work_outweighs_the_launches",),
    ),
    Mutant(
        "step_exit_layer_one_short",
        "under step the exit layer recorded for a call's tokens is one less than the layers they ran",
        (Edit("ofa_mue/core/exit_granularity.py",
              '        exit_layers.fill_(index + 1)\n',
              '        exit_layers.fill_(index)\n'),),
        ("tests/test_exit_granularity.py::test_step_exits_stop_every_token_of_a_call_at_the_deepest_choice",),
    ),
    Mutant(
        "step_padding_choices_counted",
        "under step the padding's choices to stop count towards the share, so a padded call stops before its real tokens chose to",
        (Edit("ofa_mue/core/exit_granularity.py",
              'int((self.chosen & self.counted).sum())',
              'int(self.chosen.sum())'),),
        ("tests/test_exit_granularity.py::test_a_step_tokens_choice_to_stop_sticks_and_padding_never_counts",),
    ),
    Mutant(
        "code_position_window_uses_sixteen_pixel_codes",
        "Generated image codes get the position ids of a grid a quarter the size of OFA's, so image generation positions disagree with OFA's checkpoints.",
        (Edit("models/position_bias.py", "    window = code_image_size // 8\n", "    window = code_image_size // 16\n"),),
        ("tests/test_ofa_position_tables.py::test_code_position_index_follows_ofas_definition",),
    ),
    Mutant(
        "code_position_index_starts_at_one",
        "The decoder's first code position uses image position id 1 instead of OFA's special position 0.",
        (Edit("models/position_bias.py", "        torch.zeros(1, dtype=torch.long),\n", "        torch.ones(1, dtype=torch.long),\n"),),
        ("tests/test_ofa_position_tables.py::test_code_position_index_follows_ofas_definition",),
    ),
    Mutant(
        "code_position_fill_one_short",
        "The decoder's code-position buffer is one entry shorter than OFA's, so OFA checkpoints' image_position_idx no longer matches.",
        (Edit("models/position_bias.py", "CODE_INDEX_FILL_COUNT = 769\n", "CODE_INDEX_FILL_COUNT = 768\n"),),
        ("tests/test_ofa_position_tables.py::test_code_position_index_follows_ofas_definition",),
    ),
    Mutant(
        "image_bucket_corner_uses_row_zero_bucket",
        "The special position 0 attending to itself uses the row-0 bucket instead of its own last bucket, so image relative biases differ from OFA.",
        (Edit("models/position_bias.py",
              "    table[0, 0] = num_buckets - 1\n",
              "    table[0, 0] = num_buckets - 3\n"),),
        ("tests/test_ofa_position_tables.py::test_image_buckets_follow_ofas_definition",),
    ),
    Mutant(
        "patches_without_embed_scale",
        "with --scale-embedding the encoder's patch vectors are not multiplied by embed_scale (OFA scales them "
        "as it scales the tokens)",
        (Edit("models/encoder.py",
              "        x = self.embed_scale * self.image_proj(features.flatten(2).transpose(1, 2))\n",
              "        x = self.image_proj(features.flatten(2).transpose(1, 2))\n"),),
        ("tests/test_ofa_layers.py::test_encoder_computes_ofas_embeddings_position_biases_and_final_layer_norm",),
    ),
    Mutant(
        "text_tokens_without_embed_scale",
        "with --scale-embedding the encoder's token embeddings are not multiplied by sqrt(embed_dim) as in OFA",
        (Edit("models/encoder.py", "            x = self.embed_scale * x\n", "            x = x\n"),),
        ("tests/test_ofa_layers.py::test_encoder_computes_ofas_embeddings_position_biases_and_final_layer_norm",),
    ),
    Mutant(
        "patches_without_entangled_positions",
        "with --entangle-position-embedding (the demo's default) the patch vectors do not get their image "
        "position embeddings added (the text tokens still do)",
        (Edit("models/encoder.py",
              "            x = x + positions\n        if self.type_embedding is not None:\n"
              "            x = x + self.type_embedding.weight[1]\n",
              "            pass\n        if self.type_embedding is not None:\n"
              "            x = x + self.type_embedding.weight[1]\n"),),
        ("tests/test_ofa_layers.py::test_encoder_computes_ofas_embeddings_position_biases_and_final_layer_norm",),
    ),
    Mutant(
        "text_without_entangled_positions",
        "with --entangle-position-embedding (the demo's default) the text tokens do not get their position "
        "embeddings added (the patches still do)",
        (Edit("models/encoder.py",
              "            x = x + positions\n        if self.type_embedding is not None:\n"
              "            x = x + self.type_embedding.weight[0]\n",
              "            pass\n        if self.type_embedding is not None:\n"
              "            x = x + self.type_embedding.weight[0]\n"),),
        ("tests/test_ofa_layers.py::test_encoder_computes_ofas_embeddings_position_biases_and_final_layer_norm",),
    ),
    Mutant(
        "patches_through_the_text_layernorm_embedding",
        "the patch vectors go through the text's layernorm_embedding instead of OFA's patch_layernorm_embedding "
        "(a checkpoint's patch_layernorm_embedding weights are loaded and never used)",
        (Edit("models/encoder.py", "            x = self.patch_layernorm_embedding(x)\n",
              "            x = self.layernorm_embedding(x)\n"),),
        ("tests/test_ofa_layers.py::test_encoder_computes_ofas_embeddings_position_biases_and_final_layer_norm",),
    ),
    Mutant(
        "text_through_the_patch_layernorm_embedding",
        "the token vectors go through patch_layernorm_embedding instead of OFA's layernorm_embedding",
        (Edit("models/encoder.py", "            x = self.layernorm_embedding(x)\n",
              "            x = self.patch_layernorm_embedding(x)\n"),),
        ("tests/test_ofa_layers.py::test_encoder_computes_ofas_embeddings_position_biases_and_final_layer_norm",),
    ),
    Mutant(
        "image_positions_through_the_text_pos_ln",
        "the image position embeddings are normalised by the text's pos_ln instead of OFA's image_pos_ln, in "
        "the encoder's position bias and the decoder's cross-attention bias",
        (Edit("models/encoder.py", "            image_pos = self.image_pos_ln(image_pos)\n",
              "            image_pos = self.pos_ln(image_pos)\n"),),
        ("tests/test_ofa_layers.py::test_encoder_computes_ofas_embeddings_position_biases_and_final_layer_norm",),
    ),
    Mutant(
        "encoder_pos_scaling_without_attn_scale_factor",
        "the encoder's absolute position bias is scaled by head_dim ** -0.5 instead of OFA's "
        "(head_dim * attn_scale_factor) ** -0.5",
        (Edit("models/encoder.py", "        self.pos_scaling = (dim / self.num_heads * args.attn_scale_factor) ** -0.5\n",
              "        self.pos_scaling = (dim / self.num_heads) ** -0.5\n"),),
        ("tests/test_ofa_layers.py::test_encoder_computes_ofas_embeddings_position_biases_and_final_layer_norm",),
    ),
    Mutant(
        "image_position_ids_of_the_transposed_grid",
        "patch position ids are computed for a width x height grid: the patches of a non-square image take other "
        "patches' position embeddings and relative buckets",
        (Edit("models/encoder.py",
              "        ids = image_position_ids(height, width, self.image_bucket_size, device=patch_images.device)\n",
              "        ids = image_position_ids(width, height, self.image_bucket_size, device=patch_images.device)\n"),),
        ("tests/test_ofa_layers.py::test_encoder_computes_ofas_embeddings_position_biases_and_final_layer_norm",),
    ),
    Mutant(
        "checkpoint_broadcast_not_wrapped",
        "the ranks receiving a broadcast checkpoint unpickle it with torch's weights-only default: every "
        "multi-rank load of a fairseq checkpoint fails",
        (Edit("ofa_mue/checkpoint_loading.py",
              "distributed_utils._broadcast_object_slow = broadcast_object_slow\n", ""),),
        ("tests/test_distributed_training.py::test_broadcast_checkpoint_state_is_unpickled_through_the_allow_list",),
    ),
    Mutant(
        "checkpoint_broadcast_refusal_unexplained",
        "a rank receiving a broadcast checkpoint with a foreign class fails with the unpickler's raw error, not "
        "naming the broadcasting rank or the trust opt-in",
        (Edit("ofa_mue/checkpoint_loading.py",
              "    except pickle.UnpicklingError as error:\n        raise CheckpointError(\n"
              "            f\"checkpoint state broadcast",
              "    except CheckpointError as error:\n        raise CheckpointError(\n"
              "            f\"checkpoint state broadcast"),),
        ("tests/test_distributed_training.py::test_broadcast_of_an_unexpected_class_is_refused_unless_trusted",),
    ),
    Mutant(
        "checkpoint_broadcast_uses_file_allow_list",
        "the ranks receiving a broadcast checkpoint unpickle it without fairseq's tensor placeholders allowed: "
        "every multi-rank load fails",
        (Edit("ofa_mue/checkpoint_loading.py",
              "        with _unpickling_policy(BROADCAST_GLOBALS):\n", "        with _unpickling_policy():\n"),),
        ("tests/test_distributed_training.py::test_broadcast_checkpoint_state_is_unpickled_through_the_allow_list",),
    ),
    Mutant(
        "checkpoint_config_namespace_read_as_mapping",
        "a cfg checkpoint whose model group is an argparse.Namespace (OFA's exports) cannot have its settings read",
        (Edit("ofa_mue/checkpoint_loading.py",
              "        return dict(vars(options)) if isinstance(options, argparse.Namespace) else dict(options)\n",
              "        return dict(options)\n"),),
        ("tests/test_checkpoint_loading.py::test_reading_a_checkpoints_settings_goes_through_the_allow_list",),
    ),
    Mutant(
        "checkpoint_ema_load_not_wrapped",
        "--ema-seed-model reads a checkpoint with fairseq's unwrapped loader: every fairseq checkpoint fails on "
        "torch's weights-only unpickler",
        (Edit("ofa_mue/checkpoint_loading.py",
              "checkpoint_utils.load_ema_from_checkpoint = load_ema_from_checkpoint\n", ""),),
        ("tests/test_checkpoint_loading.py::test_ema_weights_load_through_the_allow_list",),
    ),
    Mutant(
        "checkpoint_eof_not_recognised",
        "a checkpoint cut off mid-pickle (EOFError) fails with a raw EOFError instead of saying the file is "
        "truncated or corrupt",
        (Edit("ofa_mue/checkpoint_loading.py",
              "    if isinstance(error, EOFError):\n        return True\n",
              "    if isinstance(error, EOFError):\n        return False\n"),),
        ("tests/test_checkpoint_loading.py::"
         "test_a_damaged_checkpoint_of_either_format_gives_clear_error[legacy_pickle_cut_off]",),
    ),
    Mutant(
        "checkpoint_legacy_args_not_read",
        "a checkpoint with a flat args namespace gives no settings: an evaluation silently takes OFA's defaults "
        "instead of the checkpoint's image size, columns and lengths",
        (Edit("ofa_mue/checkpoint_loading.py", '    if state.get("args") is not None:\n', '    if False:\n'),),
        ("tests/test_checkpoint_round_trip.py::"
         "test_a_legacy_args_checkpoint_gives_its_task_settings_to_an_evaluation_of_its_task",),
    ),
    Mutant(
        "checkpoint_legacy_model_named_by_task",
        "a legacy args checkpoint's model options name its task, not its architecture",
        (Edit("ofa_mue/checkpoint_loading.py",
              'LEGACY_NAME_FIELDS = {"task": "task", "model": "arch"}',
              'LEGACY_NAME_FIELDS = {"task": "task", "model": "task"}'),),
        ("tests/test_checkpoint_round_trip.py::"
         "test_a_legacy_args_checkpoint_gives_its_task_settings_to_an_evaluation_of_its_task",),
    ),
    Mutant(
        "checkpoint_load_drops_arg_overrides",
        "--model-overrides given to a checkpoint load are dropped: the checkpoint's own settings are used silently",
        (Edit("ofa_mue/checkpoint_loading.py",
              "        return _fairseq_load_checkpoint_to_cpu(path, arg_overrides, load_on_all_ranks)\n",
              "        return _fairseq_load_checkpoint_to_cpu(path, None, load_on_all_ranks)\n"),),
        ("tests/test_checkpoint_loading.py::"
         "test_overrides_given_with_the_load_apply_to_the_checkpoints_configuration",),
    ),
    Mutant(
        "checkpoint_missing_file_not_named",
        "a --path that does not exist fails inside torch with its own error instead of a CheckpointError saying "
        "the file is not found",
        (Edit("ofa_mue/checkpoint_loading.py",
              "    if not os.path.isfile(path):\n        raise CheckpointError(f\"{path}: checkpoint file not found\")\n",
              "    if False:\n        raise CheckpointError(f\"{path}: checkpoint file not found\")\n"),),
        ("tests/test_checkpoint_loading.py::test_missing_and_foreign_files_give_clear_errors",),
    ),
    Mutant(
        "checkpoint_namespace_not_allowed",
        "a checkpoint holding its configuration as argparse.Namespace (OFA's and older fairseq's) is refused "
        "without the trust opt-in",
        (Edit("ofa_mue/checkpoint_loading.py", "    argparse.Namespace,\n    collections.defaultdict,\n",
              "    collections.defaultdict,\n"),),
        ("tests/test_checkpoint_loading.py::test_fairseq_checkpoint_loads_without_unsafe_unpickling",),
    ),
    Mutant(
        "checkpoint_refusal_zip_check_inverted",
        "a zip-format checkpoint holding a foreign class is called a legacy pickle, without naming the class",
        (Edit("ofa_mue/checkpoint_loading.py",
              "    if not zipfile.is_zipfile(path):\n        return (\n",
              "    if zipfile.is_zipfile(path):\n        return (\n"),),
        ("tests/test_checkpoint_loading.py::test_unexpected_global_is_refused_naming_file_and_class",),
    ),
    Mutant(
        "checkpoint_requires_both_args_and_cfg",
        "a checkpoint with a cfg but no args (every hydra-era fairseq and OFA export) is refused as naming no "
        "architecture",
        (Edit("ofa_mue/checkpoint_loading.py",
              '    if state.get("args") is None and state.get("cfg") is None:\n',
              '    if state.get("args") is None or state.get("cfg") is None:\n'),),
        ("tests/test_checkpoint_loading.py::test_bare_export_in_ofa_format_loads",),
    ),
    Mutant(
        "checkpoint_task_config_reads_model_group",
        "an evaluation reads the checkpoint's model options as its task options: the checkpoint's image size, "
        "columns and lengths are not applied",
        (Edit("ofa_mue/checkpoint_loading.py",
              '    return _checkpoint_config(path, "task")\n', '    return _checkpoint_config(path, "model")\n'),),
        ("tests/test_checkpoint_round_trip.py::"
         "test_a_legacy_args_checkpoint_gives_its_task_settings_to_an_evaluation_of_its_task",),
    ),
    Mutant(
        "checkpoint_truncated_zip_not_recognised",
        "a truncated checkpoint in torch's zip format fails with torch's raw RuntimeError instead of saying the "
        "file is truncated or corrupt",
        (Edit("ofa_mue/checkpoint_loading.py",
              '("PytorchStreamReader", "zip archive", "invalid load key", "magic number")',
              '("zip archive", "invalid load key", "magic number")'),),
        ("tests/test_checkpoint_loading.py::"
         "test_a_damaged_checkpoint_of_either_format_gives_clear_error[zip_record_corrupt]",),
    ),
    Mutant(
        "checkpoint_trust_opt_in_case_sensitive",
        "OFA_MUE_TRUST_CHECKPOINTS=TRUE (or True) does not opt in: a trusted legacy checkpoint is refused",
        (Edit("ofa_mue/checkpoint_loading.py",
              'return os.environ.get(TRUST_ENV_VAR, "").strip().lower() in ("1", "true", "yes")',
              'return os.environ.get(TRUST_ENV_VAR, "").strip() in ("1", "true", "yes")'),),
        ("tests/test_checkpoint_loading.py::test_trust_opt_in_is_refused_by_other_values[0]",),
    ),
    Mutant(
        "checkpoint_trust_opt_in_ignored",
        "OFA_MUE_TRUST_CHECKPOINTS=1 keeps the allow-list: a legacy checkpoint the user trusts cannot be loaded",
        (Edit("ofa_mue/checkpoint_loading.py",
              "    if not trusted_checkpoints():\n        with torch.serialization.safe_globals(allowed):\n",
              "    if True:\n        with torch.serialization.safe_globals(allowed):\n"),),
        ("tests/test_checkpoint_loading.py::test_trusted_opt_in_loads_other_globals",),
    ),
    Mutant(
        "checkpoint_upgrade_not_wrapped",
        "a bare OFA export (no training history) fails in fairseq's upgrade step",
        (Edit("ofa_mue/checkpoint_loading.py",
              "checkpoint_utils._upgrade_state_dict = upgrade_state_dict\n", ""),),
        ("tests/test_checkpoint_loading.py::test_bare_export_in_ofa_format_loads",),
    ),
    Mutant(
        "checkpoint_upgrade_resets_extra_state",
        "a full fairseq checkpoint (extra_state but no top-level epoch) loses its extra_state: its epoch, "
        "data iterator position and best validation score are dropped",
        (Edit("ofa_mue/checkpoint_loading.py",
              '    if "extra_state" not in state and "epoch" not in state:\n',
              '    if "extra_state" not in state or "epoch" not in state:\n'),),
        ("tests/test_checkpoint_loading.py::test_fairseq_checkpoint_loads_without_unsafe_unpickling",),
    ),
    Mutant(
        "checkpoint_upgrade_resets_training_history",
        "a full fairseq checkpoint (it has optimizer_history but no best_loss) is given a bare export's empty "
        "history: a resumed run restarts at update 0 with a fresh lr schedule",
        (Edit("ofa_mue/checkpoint_loading.py",
              '    if "optimizer_history" not in state and "best_loss" not in state:\n',
              '    if "optimizer_history" not in state or "best_loss" not in state:\n'),),
        ("tests/test_checkpoint_loading.py::test_fairseq_checkpoint_loads_without_unsafe_unpickling",),
    ),
    Mutant(
        "checkpoint_without_config_accepted",
        "a checkpoint naming no architecture (neither args nor cfg) goes on to fairseq, which fails obscurely "
        "instead of saying what the file lacks",
        (Edit("ofa_mue/checkpoint_loading.py",
              '    if state.get("args") is None and state.get("cfg") is None:\n',
              '    if state.get("args") is None and state.get("cfg") is None and False:\n'),),
        ("tests/test_checkpoint_loading.py::test_missing_and_foreign_files_give_clear_errors",),
    ),
    Mutant(
        "checkpoint_without_model_accepted",
        "a file of bare weights (no 'model' entry) is passed to fairseq's upgrade and fails with a KeyError "
        "instead of saying it is not a fairseq checkpoint",
        (Edit("ofa_mue/checkpoint_loading.py",
              '    if not isinstance(state, dict) or "model" not in state:\n',
              '    if not isinstance(state, dict):\n'),),
        ("tests/test_checkpoint_loading.py::test_missing_and_foreign_files_give_clear_errors",),
    ),
    Mutant(
        "exit_profile_auto_decides_unlike_token",
        "an auto profile run with --exit-granularity token (the same exit decisions) is refused",
        (Edit("ofa_mue/core/exit_profile.py",
              'DECISION_RULE = {"token": "token", "auto": "token", "step": "step"}',
              'DECISION_RULE = {"token": "token", "auto": "auto", "step": "step"}'),),
        ("tests/test_exit_granularity.py::test_a_profile_runs_at_the_granularity_it_was_calibrated_with",),
    ),
    Mutant(
        "exit_profile_boolean_threshold_accepted",
        "a profile whose threshold is true/false loads as 1.0/0.0: a hand-edited profile silently turns an exit "
        "off or on instead of being refused",
        (Edit("ofa_mue/core/exit_profile.py",
              "        if not isinstance(value, (int, float)) or isinstance(value, bool):\n",
              "        if not isinstance(value, (int, float)):\n"),),
        ("tests/test_exit_profile.py::test_a_profile_option_that_is_not_an_exit_threshold_is_refused_by_name[boolean]",),
    ),
    Mutant(
        "exit_profile_caveats_keep_none",
        "profile_caveats lists every caveat, those that do not apply as None: a run the profile was calibrated "
        "for is reported with caveats",
        (Edit("ofa_mue/core/exit_profile.py",
              "for name, caveat in zip(CAVEATS, caveats) if caveat}",
              "for name, caveat in zip(CAVEATS, caveats)}"),),
        ("tests/test_exit_profile.py::test_profile_caveats_gives_every_caveat_of_a_run_by_name",),
    ),
    Mutant(
        "exit_profile_caveats_mislabelled",
        "the weights and checkpoint caveats are recorded under each other's names in an evaluation's metrics file",
        (Edit("ofa_mue/core/exit_profile.py",
              "               weights_caveat(profile, ema), checkpoint_caveat(profile, checkpoint))\n",
              "               checkpoint_caveat(profile, checkpoint), weights_caveat(profile, ema))\n"),),
        ("tests/test_exit_profile.py::test_profile_caveats_gives_every_caveat_of_a_run_by_name",),
    ),
    Mutant(
        "exit_profile_default_granularity_auto",
        "a profile written before the granularity was recorded (calibrated per token) reads as auto: its run "
        "is refused with --exit-granularity token and recorded under the wrong granularity",
        (Edit("ofa_mue/core/exit_profile.py",
              '    granularity = options.get("exit_granularity", "token")\n',
              '    granularity = options.get("exit_granularity", "auto")\n'),),
        ("tests/test_exit_granularity.py::test_a_profile_without_a_granularity_was_calibrated_per_token",),
    ),
    Mutant(
        "exit_profile_default_weights_ema",
        "a profile without a weights field (calibrated on the model weights) is read as calibrated on the EMA "
        "weights: a run of the model weights is wrongly caveated, a run with --ema-eval is not",
        (Edit("ofa_mue/core/exit_profile.py",
              'profile.get("weights", "model")', 'profile.get("weights", "ema")'),),
        ("tests/test_exit_profile.py::test_the_weights_caveat_tells_a_run_which_weights_the_profile_was_calibrated_on",),
    ),
    Mutant(
        "exit_profile_describe_auto_with_quantile",
        "the refusal of a granularity other than a step profile's describes --exit-granularity auto with a step "
        "quantile: flags the user cannot give",
        (Edit("ofa_mue/core/exit_profile.py",
              '(f" --exit-step-quantile {quantile:g}" if mode == "step" else "")',
              '(f" --exit-step-quantile {quantile:g}" if mode != "token" else "")'),),
        ("tests/test_exit_granularity.py::test_a_granularity_that_decides_otherwise_than_the_profile_is_refused["
         "given1---exit-granularity auto]",),
    ),
    Mutant(
        "exit_profile_granularity_options_refused_as_unknown",
        "a profile recording its exit granularity is refused as holding unknown options: no step or auto profile "
        "can be used",
        (Edit("ofa_mue/core/exit_profile.py",
              "set(options) - set(PROFILE_OPTIONS) - set(GRANULARITY_OPTIONS)",
              "set(options) - set(PROFILE_OPTIONS)"),),
        ("tests/test_exit_granularity.py::test_a_profile_runs_at_the_granularity_it_was_calibrated_with",),
    ),
    Mutant(
        "exit_profile_smaller_step_quantile_only_refused",
        "a step profile run with a larger --exit-step-quantile than it was calibrated with is not refused: the "
        "thresholds run under other exit decisions than they were calibrated for",
        (Edit("ofa_mue/core/exit_profile.py",
              '(mode == "step" and quantile != recorded[1])',
              '(mode == "step" and quantile < recorded[1])'),),
        ("tests/test_exit_granularity.py::test_a_granularity_that_decides_otherwise_than_the_profile_is_refused["
         "given2---exit-granularity step --exit-step-quantile 0.7]",),
    ),
    Mutant(
        "exit_profile_step_quantile_above_one_accepted",
        "a step profile with exit_step_quantile above 1 loads: a quantile that does not exist runs",
        (Edit("ofa_mue/core/exit_profile.py",
              "    if not 0.0 < quantile <= 1.0:\n",
              "    if not 0.0 < quantile:\n"),),
        ("tests/test_exit_granularity.py::test_a_bad_granularity_in_a_profile_names_the_file_and_field["
         "granularity2-options.exit_step_quantile-must be in \\\\(0, 1\\\\]]",),
    ),
    Mutant(
        "exit_profile_step_quantile_not_taken_from_profile",
        "--exit-granularity step with a step profile and no quantile runs at quantile 1, not the profile's: the "
        "run is refused although it repeats the profile's granularity",
        (Edit("ofa_mue/core/exit_profile.py",
              '    if mode == "step" and quantile is None:\n',
              '    if mode == "step" and quantile is not None:\n'),),
        ("tests/test_exit_granularity.py::test_a_profile_runs_at_the_granularity_it_was_calibrated_with",),
    ),
    Mutant(
        "exit_profile_step_quantile_outside_step_accepted",
        "a token profile recording a step quantile loads: a quantile that changes nothing is taken as part of "
        "the calibration",
        (Edit("ofa_mue/core/exit_profile.py",
              '    if quantile != 1.0 and granularity != "step":\n',
              '    if quantile > 1.0 and granularity != "step":\n'),),
        ("tests/test_exit_granularity.py::test_a_bad_granularity_in_a_profile_names_the_file_and_field["
         "granularity3-options.exit_step_quantile-applies to the step granularity, not 'token']",),
    ),
    Mutant(
        "exit_profile_token_profile_batch_size_caveat",
        "a profile without a calibration batch size (token or auto) is caveated at every batch size",
        (Edit("ofa_mue/core/exit_profile.py",
              "    if calibrated is None or calibrated == batch_size:\n",
              "    if calibrated == batch_size:\n"),),
        ("tests/test_exit_granularity.py::test_a_step_profile_describes_runs_at_its_calibration_batch_size_only",),
    ),
    Mutant(
        "exit_profile_token_profile_records_step_quantile",
        "a token profile records exit_step_quantile (as if calibrated under step), and a step profile does not "
        "record its quantile: it is run at quantile 1",
        (Edit("ofa_mue/core/exit_profile.py",
              '**({"exit_step_quantile": quantile} if mode == "step" else {})}',
              '**({"exit_step_quantile": quantile} if mode != "step" else {})}'),),
        ("tests/test_policy_and_calibration_edges.py::"
         "test_a_retention_profile_records_its_target_and_a_token_granularity_by_default",),
    ),
    Mutant(
        "exit_profile_token_profile_step_quantile_not_one",
        "a token profile run with --exit-granularity step is described as asking for quantile 0.5, not 1",
        (Edit("ofa_mue/core/exit_profile.py",
              "        quantile = recorded[1] if recorded[0] == \"step\" else 1.0\n",
              "        quantile = recorded[1] if recorded[0] == \"step\" else 0.5\n"),),
        ("tests/test_exit_granularity.py::test_a_profile_without_a_granularity_was_calibrated_per_token",),
    ),
    Mutant(
        "exit_profile_uncertified_statement_claims_guarantee",
        "a profile whose certified test passed nothing is stated as carrying a guarantee (or the reverse)",
        (Edit("ofa_mue/core/exit_profile.py",
              '    if not guarantee["certified"]:\n', '    if guarantee["certified"]:\n'),),
        ("tests/test_exit_profile.py::test_the_guarantee_statement_gives_the_confidence_one_minus_delta",),
    ),
    Mutant(
        "exit_profile_unfingerprinted_profile_caveated",
        "a profile written before profiles recorded a fingerprint is caveated on every checkpoint",
        (Edit("ofa_mue/core/exit_profile.py",
              "    if calibrated is None or calibrated == checkpoint_fingerprint(checkpoint):\n",
              "    if calibrated == checkpoint_fingerprint(checkpoint):\n"),),
        ("tests/test_exit_profile.py::test_a_profile_is_caveated_on_a_checkpoint_with_other_weights_only",),
    ),
    Mutant(
        "exit_profile_unknown_granularity_accepted",
        "a profile naming a granularity that does not exist loads: the run fails later, or not at all, instead of "
        "naming the profile's bad field",
        (Edit("ofa_mue/core/exit_profile.py",
              "    if granularity not in GRANULARITIES:\n",
              "    if granularity is None:\n"),),
        ("tests/test_exit_granularity.py::test_a_bad_granularity_in_a_profile_names_the_file_and_field["
         "granularity0-options.exit_granularity-must be one of token, step, auto]",),
    ),
    Mutant(
        "exit_profile_weights_record_names_model_weights",
        "the model weights are recorded as {\"weights\": \"model\"}, not by the field's absence: every evaluation "
        "key and summary made before EMA runs were recorded no longer matches a model-weights run",
        (Edit("ofa_mue/core/exit_profile.py",
              '    return {"weights": "ema"} if ema else {}\n',
              '    return {"weights": "ema" if ema else "model"}\n'),),
        ("tests/test_evaluation_bookkeeping.py::"
         "test_the_description_names_the_checkpoint_its_weights_and_a_profile_of_the_mue_policy_only",),
    ),
    Mutant(
        "exit_profile_zero_step_quantile_accepted",
        "a step profile with exit_step_quantile 0 loads: every step stops as soon as any token is confident",
        (Edit("ofa_mue/core/exit_profile.py",
              "    if not 0.0 < quantile <= 1.0:\n",
              "    if not 0.0 <= quantile <= 1.0:\n"),),
        ("tests/test_exit_granularity.py::test_a_bad_granularity_in_a_profile_names_the_file_and_field["
         "granularity1-options.exit_step_quantile-must be in \\\\(0, 1\\\\]]",),
    ),
    Mutant(
        "meteor_captions_and_references_swapped",
        "METEOR scores the references against the captions: a short caption gets the precision-weighted score "
        "(0.44 instead of 0.26 for 3 of 7 words)",
        (Edit("ofa_mue/caption_metrics.py", "meteor_scorer().compute_score(refs, hyps)",
              "meteor_scorer().compute_score(hyps, refs)"),),
        ("tests/test_caption_metrics.py::test_meteor_weighs_recall_against_the_references",),
    ),
    Mutant(
        "corpus_cider_captions_and_references_swapped",
        "the evaluation's CIDEr scores the references against the captions (document frequencies from the captions)",
        (Edit("ofa_mue/caption_metrics.py", '    results["cider"] = float(Cider().compute_score(refs, hyps)[0])\n    if spice',
              '    results["cider"] = float(Cider().compute_score(hyps, refs)[0])\n    if spice'),),
        ("tests/test_caption_metrics.py::test_rouge_l_is_the_candidates_lcs_f_measure_against_the_references",),
    ),
    Mutant(
        "per_example_cider_captions_and_references_swapped",
        "the per-example CIDEr-D (calibration, the oracle) scores the references against the captions",
        (Edit("ofa_mue/caption_metrics.py", "Cider().compute_score(self.references, hypotheses)",
              "Cider().compute_score(hypotheses, self.references)"),),
        ("tests/test_caption_metrics.py::test_per_example_cider_averages_to_the_evaluations_cider",),
    ),
    Mutant(
        "caption_metrics_length_mismatch_accepted",
        "captions and reference lists of different lengths are scored (pycocoevalcap pairs them by position or "
        "fails deep inside) instead of refused",
        (Edit("ofa_mue/caption_metrics.py", "    if len(predictions) != len(references) or not predictions:\n",
              "    if not predictions:\n"),),
        ("tests/test_caption_metrics.py::test_captions_and_reference_lists_of_different_lengths_are_refused",),
    ),
    Mutant(
        "caption_scorer_length_mismatch_accepted",
        "the per-example scorer takes more anchors or captions than reference lists instead of refusing them",
        (Edit("ofa_mue/caption_metrics.py", "        if len(predictions) != len(self.references):\n",
              "        if len(predictions) < len(self.references):\n"),
         Edit("ofa_mue/caption_metrics.py", "        if len(references) != len(anchors) or not references:\n",
              "        if len(references) > len(anchors) or not references:\n")),
        ("tests/test_caption_metrics.py::test_captions_and_reference_lists_of_different_lengths_are_refused",),
    ),
)


def by_name() -> Dict[str, Mutant]:
    """The catalogue keyed by mutant name."""
    return {mutant.name: mutant for mutant in MUTANTS}


def mutated_sources(mutant: Mutant, root: Path) -> Dict[Path, str]:
    """The text of each file ``mutant`` changes under ``root``, with its edits made.

    Raises :class:`StaleMutant` when an edit's original text is not in its file exactly once.
    """
    sources: Dict[Path, str] = {}
    for edit in mutant.edits:
        path = root / edit.path
        if path not in sources:
            if not path.is_file():
                raise StaleMutant(f"mutant {mutant.name}: {edit.path} does not exist")
            sources[path] = path.read_text(encoding="utf-8")
        count = sources[path].count(edit.original)
        if count != 1:
            first_line = edit.original.strip().splitlines()[0]
            raise StaleMutant(f"mutant {mutant.name}: {edit.path}: the text to replace is found {count} times, "
                              f"expected once (it starts {first_line!r}); re-target the mutant in "
                              "tests/mutation/mutants.py")
        sources[path] = sources[path].replace(edit.original, edit.replacement)
    return sources


def apply(mutant: Mutant, root: Path) -> None:
    """Make ``mutant``'s edits in the tree at ``root`` (a copy: never the working tree)."""
    for path, text in mutated_sources(mutant, root).items():
        path.write_text(text, encoding="utf-8")


def markdown_table() -> str:
    """The docs table: each mutant, what it breaks, the files it edits and the tests that catch it."""
    lines = ["| mutant | defect | edits | caught by (each must fail) |", "|---|---|---|---|"]
    for mutant in MUTANTS:
        files = ", ".join(dict.fromkeys(f"`{edit.path}`" for edit in mutant.edits))
        tests = "<br>".join(f"`{test.split('/')[-1]}`" for test in mutant.caught_by)
        lines.append(f"| `{mutant.name}` | {mutant.defect} | {files} | {tests} |")
    return "\n".join(lines) + "\n"


def docs_with_table(text: str) -> str:
    """``text`` (the docs page) with the table between its markers regenerated."""
    before, start, rest = text.partition(TABLE_START)
    _, end, after = rest.partition(TABLE_END)
    if not (start and end):
        raise ValueError(f"{DOCS}: the markers {TABLE_START.strip()} and {TABLE_END.strip()} are missing")
    return before + TABLE_START + markdown_table() + TABLE_END + after


def write_docs(root: Path) -> None:
    """Regenerate the table in ``root``'s docs page."""
    path = root / DOCS
    path.write_text(docs_with_table(path.read_text(encoding="utf-8")), encoding="utf-8")
