"""Beam search over an encoder-decoder: greedy against a naive loop, beam scores against teacher
forcing, order, batching, determinism, length limits and the count of model passes."""

from __future__ import annotations

import pytest
import torch

from textebm.errors import UsageError
from textebm.models.seq2seq import load_seq2seq
from textebm.models.tiny import build_tiny_seq2seq, wordpiece_tokenizer
from textebm.samplers.beam import (
    decode_target,
    length_limits,
    never_generated,
    translate_beam,
)

SOURCES = [
    "the cat sat on the mat .",
    "dogs",
    "she reads a book today in the park with her children",
    "the quick bird sang .",
    "we saw them yesterday near the green river",
]


@pytest.fixture(scope="module")
def seq2seq(tmp_path_factory):
    """A random tiny encoder-decoder; init_scale 5 so its next-token choices are far from flat
    (and so some sentences end early, others run to their length limit)."""
    folder = build_tiny_seq2seq(tmp_path_factory.mktemp("seq2seq"), init_scale=5.0)
    return load_seq2seq(str(folder), device="cpu")


def naive_greedy(model, tokenizer, source: str, limit: int) -> tuple[list[int], float, int]:
    """Greedy decoding by full forward passes (no cache): (token ids before eos, summed log-prob
    of the tokens and eos, decoder passes). The limit-th token is eos, forced; padding, [CLS]
    and [MASK] are never chosen."""
    bos, eos = tokenizer.cls_token_id, tokenizer.sep_token_id
    encoded = tokenizer([source], return_tensors="pt")
    prefix, total = [bos], 0.0
    for step in range(limit):
        with torch.no_grad():
            logits = model(**encoded, decoder_input_ids=torch.tensor([prefix])).logits
        log_probs = logits[0, -1].log_softmax(-1)
        allowed = log_probs.clone()
        allowed[never_generated(tokenizer)] = -torch.inf
        chosen = eos if step == limit - 1 else int(allowed.argmax())
        total += float(log_probs[chosen])
        if chosen == eos:
            return prefix[1:], total, step + 1
        prefix.append(chosen)
    raise AssertionError("unreachable: the last step forces eos")


def teacher_forced(model, tokenizer, source: str, target: str) -> tuple[float, int]:
    """(log p(target, eos | source), tokens counted) by one teacher-forced pass."""
    encoded = tokenizer([source], return_tensors="pt")
    target_ids = tokenizer([target], return_tensors="pt")["input_ids"]  # [CLS] y [SEP]
    with torch.no_grad():
        logits = model(**encoded, decoder_input_ids=target_ids[:, :-1]).logits
    log_probs = logits.log_softmax(-1).gather(-1, target_ids[:, 1:, None])
    return float(log_probs.sum()), target_ids.shape[1] - 1


def test_length_limits_by_hand():
    # floor(1.5 x 4) + 2 = 8; floor(1.5 x 0) + 2 = 2; floor(1.5 x 40) + 2 = 62 -> capped at 20
    assert length_limits([4, 0, 40], 1.5, 2, 20) == [8, 2, 20]


@pytest.fixture
def eos_bias(seq2seq, request):
    """The tiny model with eos's logit raised by `request.param` (0.9: every sentence ends at
    once; 0: none ends before its limit), restored afterwards."""
    model, tokenizer = seq2seq
    bias = model.final_logits_bias
    before = bias.clone()
    with torch.no_grad():
        bias[0, tokenizer.sep_token_id] += request.param
    yield request.param
    with torch.no_grad():
        bias.copy_(before)


@pytest.mark.parametrize("eos_bias", [0.0, 0.9], indirect=True)
@pytest.mark.parametrize("length_penalty", [1.0, 0.0])
def test_beam_one_is_greedy_decoding(seq2seq, length_penalty, eos_bias):
    model, tokenizer = seq2seq
    result = translate_beam(
        model,
        tokenizer,
        SOURCES,
        beam=1,
        max_length_extra=4,
        length_penalty=length_penalty,
        batch_size=2,
    )
    limits = length_limits([len(tokenizer(s)["input_ids"]) - 2 for s in SOURCES], 2.0, 4, 63)
    ended_early = 0
    outputs = zip(SOURCES, limits, result.texts, result.scores, strict=True)
    for source, limit, text, score in outputs:
        ids, total, steps = naive_greedy(model, tokenizer, source, limit)
        assert text == decode_target(tokenizer, ids)
        assert score == pytest.approx(total / steps**length_penalty, abs=1e-4)
        ended_early += steps < limit
    assert ended_early == (len(SOURCES) if eos_bias else 0)  # eos chosen, or forced


def test_pass_count_of_one_sentence_is_one_encoder_plus_its_decoder_steps(seq2seq):
    model, tokenizer = seq2seq
    for source in SOURCES:
        result = translate_beam(model, tokenizer, [source], beam=1, max_length_extra=4)
        limit = length_limits([len(tokenizer(source)["input_ids"]) - 2], 2.0, 4, 63)[0]
        _, _, steps = naive_greedy(model, tokenizer, source, limit)
        assert result.passes == result.sentence_passes[0] == 1 + steps


@pytest.mark.parametrize("length_penalty", [1.0, 0.0, 0.6])
def test_beam_scores_are_length_penalised_log_probabilities(seq2seq, length_penalty):
    model, tokenizer = seq2seq
    result = translate_beam(
        model, tokenizer, SOURCES, beam=4, length_penalty=length_penalty, batch_size=3
    )
    for source, text, score in zip(SOURCES, result.texts, result.scores, strict=True):
        total, tokens = teacher_forced(model, tokenizer, source, text)
        assert score == pytest.approx(total / tokens**length_penalty, abs=1e-4)


def test_beam_finds_at_least_the_greedy_score_here(seq2seq):
    """Not a theorem for beam search, but with a 6-wide beam on these sentences it holds, and a
    beam that scored worse than greedy everywhere would mean a broken search."""
    model, tokenizer = seq2seq
    greedy = translate_beam(model, tokenizer, SOURCES, beam=1, length_penalty=0.0)
    wide = translate_beam(model, tokenizer, SOURCES, beam=6, length_penalty=0.0)
    assert all(w >= g - 1e-5 for w, g in zip(wide.scores, greedy.scores, strict=True))
    assert any(w > g + 1e-3 for w, g in zip(wide.scores, greedy.scores, strict=True))


def test_output_order_batching_and_determinism(seq2seq):
    model, tokenizer = seq2seq
    together = translate_beam(model, tokenizer, SOURCES, beam=3, batch_size=2)
    alone = [translate_beam(model, tokenizer, [s], beam=3).texts[0] for s in SOURCES]
    assert together.texts == alone
    again = translate_beam(model, tokenizer, SOURCES, beam=3, batch_size=2)
    assert again.texts == together.texts and again.scores == together.scores
    backwards = translate_beam(model, tokenizer, SOURCES[::-1], beam=3, batch_size=5)
    assert backwards.texts == together.texts[::-1]
    # batches of 2 over 5 sentences: 3 generate calls, each an encoder pass and a decoder step
    assert together.passes >= 3 * 2 and max(together.sentence_passes) < together.passes
    assert len(together.sentence_seconds) == len(SOURCES) and together.seconds > 0


def test_blank_sources_and_length_limit(seq2seq):
    model, tokenizer = seq2seq
    result = translate_beam(
        model, tokenizer, ["", *SOURCES, "  "], beam=2, max_length_ratio=0.0, max_length_extra=3
    )
    assert result.texts[0] == result.texts[-1] == ""
    assert result.scores[0] is None and result.sentence_passes[0] == 0
    assert all(len(text.split()) <= 2 for text in result.texts)  # 3 tokens, eos included
    nothing = translate_beam(model, tokenizer, ["", ""], beam=2)
    assert nothing.texts == ["", ""] and nothing.passes == 0


def test_long_sources_are_cut_to_the_model_positions(seq2seq):
    model, tokenizer = seq2seq
    long = " ".join(["the cat"] * 40)  # 80 words + 2 specials > 64 positions
    result = translate_beam(model, tokenizer, [long, "dogs"], beam=2)
    assert result.truncated == 1 and len(result.texts) == 2


def test_decode_keeps_the_spacing_of_tokenised_text():
    tokenizer = wordpiece_tokenizer()
    tokens = "[CLS] the man can not read . un ##happi ##ly [SEP] [PAD]".split()
    text = decode_target(tokenizer, tokenizer.convert_tokens_to_ids(tokens))
    assert text == "the man can not read . unhappily"


def test_load_seq2seq_rejects_other_models(wordlevel_dir):
    with pytest.raises(UsageError, match="not an encoder-decoder"):
        load_seq2seq(str(wordlevel_dir))


def test_passes_count_rows_sentences_times_beams_per_decoder_call(seq2seq):
    """One encoder call over the 2 sources, then decoder calls over 2 x 3 beam rows each: the
    count is in sequences, as the CMLM decoders count masked copies."""
    model, tokenizer = seq2seq
    calls = {"encoder": 0, "decoder": 0}

    def counter(name):
        def hook(*_):
            calls[name] += 1

        return hook

    handles = [
        model.get_encoder().register_forward_hook(counter("encoder")),
        model.get_decoder().register_forward_hook(counter("decoder")),
    ]
    try:
        result = translate_beam(model, tokenizer, SOURCES[:2], beam=3, batch_size=2)
    finally:
        for handle in handles:
            handle.remove()
    assert calls["encoder"] == 1 and calls["decoder"] > 1
    assert result.passes == 2 + 2 * 3 * calls["decoder"]
    assert result.sentence_passes == [result.passes, result.passes]
