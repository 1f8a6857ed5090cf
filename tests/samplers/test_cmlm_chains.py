"""MH, degenerate Gibbs and Mask-Predict on a conditional masked LM, the source being the chains'
condition: every pass (energy and proposal) sees each chain's own source, which never changes,
and the encoder runs once per source."""

from __future__ import annotations

import pytest
import torch

from textebm.data.padding import right_pad
from textebm.energies import Condition, ConditionalMaskedLMEnergy
from textebm.samplers import (
    DegenerateGibbs,
    MetropolisHastings,
    SampleConfig,
    from_lengths,
    run_chains,
    sample,
)
from textebm.samplers.mask_predict import mask_predict

LENGTHS = [6, 4, 5]  # distinct: a row's attention-mask sum says which chain it belongs to
SOURCES = ["the cat sat on the mat .", "dogs ran in the park", "a bird sang"]


class Checked(ConditionalMaskedLMEnergy):
    """The conditional energy, checking at every pass that each target row is conditioned on
    its own chain's source (found from the row's length) and counting the passes."""

    def bind(self, sources: dict[int, list[int]]) -> Checked:
        self.expected, self.checked = sources, 0
        return self

    def _context(self, condition, batch):
        return condition, super()._context(condition, batch)

    def _logits(self, copies, attention_mask, row, context):
        condition, inner = context
        lengths = attention_mask.sum(dim=1)
        got = condition.input_ids[row]
        for length, ids in zip(lengths.tolist(), got, strict=True):
            want = self.expected[length]
            assert ids[: len(want)].tolist() == want and not ids[len(want) :].any()
        self.checked += len(copies)
        return super()._logits(copies, attention_mask, row, inner)


@pytest.fixture
def setting(cmlm):
    model, tokenizer = cmlm
    start = from_lengths(tokenizer, LENGTHS)
    source_ids = [tokenizer(text)["input_ids"] for text in SOURCES]
    ids, mask = right_pad(source_ids, tokenizer.pad_token_id)
    by_length = dict(zip(start.attention_mask.sum(dim=1).tolist(), source_ids, strict=True))
    energy = Checked(model, tokenizer, kind="raw").bind(by_length)
    return energy, start, Condition(input_ids=ids, attention_mask=mask)


def _kernels(energy):
    return {
        "mh": MetropolisHastings(energy),
        "mh block": MetropolisHastings(energy, block_size=2),
        "gibbs": DegenerateGibbs(energy, top_k=5),
    }


@pytest.mark.parametrize("name", ["mh", "mh block", "gibbs"])
def test_chains_keep_their_source_and_encode_it_once(setting, name):
    energy, start, condition = setting
    before = condition.input_ids.clone()
    kernel = _kernels(energy)[name]
    generator = torch.Generator().manual_seed(0)
    state, _ = kernel.init(*start.astuple(), generator, condition)
    for _ in range(3):
        state, _ = kernel.step(generator, state)
        assert state.condition is condition
    samples = run_chains(kernel, state, generator, sweeps=2, progress=False)
    assert samples.state.condition is condition
    assert torch.equal(condition.input_ids, before)  # never changed in place either
    assert energy.checked > 0  # every pass above went through the row check
    assert energy.encoder_cost.calls == 1 and energy.encoder_cost.sequences == len(SOURCES)
    if name.startswith("mh"):  # the cached energies are those of the final tokens and sources
        fresh = energy(samples.state.tokens, start.attention_mask, condition=condition)
        assert torch.allclose(samples.state.energy, fresh.energy, atol=1e-4)


def test_mask_predict_decodes_given_the_source(setting):
    energy, start, condition = setting
    result = mask_predict(energy, *start.astuple(), iterations=3, condition=condition)
    assert (result.tokens[start.free] != energy.mask_id).all()
    assert energy.checked == len(LENGTHS) * 3  # one copy per chain per iteration
    assert energy.encoder_cost.calls == 1
    # another source gives another argmax decoding: the condition is used
    swapped = Condition(input_ids=condition.input_ids[[2, 0, 1]])
    other = ConditionalMaskedLMEnergy(energy.model, energy.tokenizer, kind="raw")
    again = mask_predict(other, *start.astuple(), iterations=3, condition=swapped)
    assert not torch.equal(result.tokens, again.tokens)


@pytest.mark.parametrize("sampler", ["mh", "gibbs", "mask-predict"])
def test_sample_runs_on_the_conditional_energy(setting, sampler):
    energy, _, condition = setting
    config = SampleConfig(
        length="4", chains=3, sweeps=2, burn_in=0, thin=1, sampler=sampler, seed=1
    )
    # every chain is 4 + 2 tokens long, like chain 1 of `setting`: its source for all three
    energy.bind({6: energy.expected[6]})
    first = Condition(input_ids=condition.input_ids[[1, 1, 1]])
    result = sample(config, energy, first, progress=False)
    assert result.records and energy.encoder_cost.calls == 1
    fresh = energy(result.tokens[-1], None, condition=first).energy * energy.temperature
    assert torch.allclose(result.energies[-1], fresh, atol=1e-4)
