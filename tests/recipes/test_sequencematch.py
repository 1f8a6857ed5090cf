"""The SequenceMatch recipe: examples, one-pass batches against state-by-state recomputation,
warm-up then mix, buffer refreshes, exact resume with the buffer, bad input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.two_processes import torchrun_two
from textebm.cli.main import main
from textebm.data.actions import apply_actions
from textebm.data.tokenizers import load_tokenizer_folder
from textebm.models.tiny import TINY_WORDS
from textebm.objectives.sequencematch import (
    behavioural_cloning_loss,
    read_steps,
    sequencematch_chi2_loss,
)
from textebm.recipes.loop import train
from textebm.recipes.objective import Models, StepContext
from textebm.recipes.replay_buffer import Sample
from textebm.recipes.sequencematch import Example, SequenceMatch, train_sequencematch
from textebm.recipes.sequencematch_config import SequenceMatchConfig

WORDS = [w for w in TINY_WORDS if w.isalpha()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Lines of 2-6 words; every other one 'QUESTION<TAB>ANSWER'."""
    rng = random.Random(0)
    lines = []
    for i in range(40):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
        answer = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
        lines.append(f"{words}\t{answer}" if i % 2 else words)
    path = tmp_path_factory.mktemp("sm") / "train.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def make_config(clm_dir, corpus, tmp_path):
    def make(**overrides) -> SequenceMatchConfig:
        values = dict(
            init_from=str(clm_dir),
            corpus=str(corpus),
            validation=str(corpus),
            output=str(tmp_path / "run"),
            context_length=16,
            batch_size=4,
            max_steps=6,
            bc_warmup_steps=2,
            sample_every=2,
            samples_per_refresh=3,
            buffer_size=4,
            max_new_tokens=6,
            noise_rate=0.3,
            gamma=0.9,
            eval_every=3,
            eval_examples=8,
            log_every=1,
            checkpoint_every=3,
            learning_rate=3e-3,
            mixed_precision="no",
        )
        return SequenceMatchConfig(**{**values, **overrides})

    return make


def _objective(config: SequenceMatchConfig):
    objective = SequenceMatch(config)
    tokenizer = load_tokenizer_folder(config.init_from)
    objective.check_tokenizer(tokenizer)
    torch.manual_seed(0)
    model = objective.build_model(config, tokenizer).eval()
    return objective, tokenizer, model


def test_examples_split_at_the_tab_or_after_prompt_tokens(make_config, tmp_path):
    text = tmp_path / "lines.txt"
    text.write_text("the cat sat\tone dog\nthe cat sat on the mat\n\na dog\n")
    config = make_config(corpus=str(text), prompt_tokens=2, context_length=6)
    objective, tokenizer, _ = _objective(config)
    ids = lambda words: tokenizer.convert_tokens_to_ids(words.split())  # noqa: E731
    bos, eos = tokenizer.cls_token_id, tokenizer.sep_token_id
    found = objective.examples([text.read_text().split("\n")], tokenizer, config, train=True)
    assert found == [
        Example([bos, *ids("the cat sat")], [*ids("one dog")], False),  # cut at 6 tokens
        Example([bos, *ids("the cat")], [*ids("sat on the")], False),
        Example([bos, *ids("a")], [*ids("dog"), eos], True),  # one token stays to imitate
    ]
    assert objective.train_examples == found


def test_gamma_defaults_to_one_minus_one_over_the_mean_continuation_length(make_config, tmp_path):
    text = tmp_path / "lines.txt"
    text.write_text("the cat sat\tone dog\nthe cat sat on the mat\n")
    config = make_config(corpus=str(text), gamma=None, context_length=32)
    objective, tokenizer, _ = _objective(config)
    found = objective.examples([text.read_text().split("\n")], tokenizer, config, train=True)
    # Continuations: "one dog" eos (3 actions) and "the cat sat on the mat" eos (7): n = 5.
    assert [len(example.continuation) for example in found] == [3, 7]
    assert objective.gamma == pytest.approx(1 - 1 / 5)
    explicit = make_config(corpus=str(text), gamma=0.5)
    objective.examples([text.read_text().split("\n")], tokenizer, explicit, train=True)
    assert objective.gamma == 0.5


def _naive_terms(objective, model, prompts, actions, is_noise, ended, n_data, config):
    """The loss terms from logits recomputed state by state (no one-pass layout)."""
    token, eos = objective.backspace, objective.eos_id
    width = max(map(len, actions))
    rows = []
    for prompt, sequence in zip(prompts, actions, strict=True):
        states = []
        for t in range(width + 1):
            if t > len(sequence):
                states.append(torch.zeros_like(states[-1]))
                continue
            tokens = apply_actions(sequence[:t], token, prompt)
            logits = model(torch.tensor([tokens])).logits[0, -1].float()
            if len(tokens) == len(prompt):  # nothing to delete
                logits[token] = -torch.inf
            states.append(logits)
        rows.append(torch.stack(states))
    state_logits = torch.stack(rows)
    padded = torch.tensor([s + [0] * (width - len(s)) for s in actions])
    mask = torch.tensor([[t < len(s) for t in range(width)] for s in actions])
    imitate = mask & ~torch.tensor([f + [False] * (width - len(f)) for f in is_noise])
    ended = torch.tensor(ended)

    def steps(part: slice):
        return read_steps(
            state_logits[part], padded[part], mask[part], ended[part], eos, imitate[part]
        )

    data, sampled = steps(slice(None, n_data)), steps(slice(n_data, None))
    alpha = config.bc_weight
    terms = {"bc": alpha * behavioural_cloning_loss(data)["bc"]}
    chi2 = sequencematch_chi2_loss(data, sampled, config.gamma, config.square_weight)
    return {**terms, **{k: (1 - alpha) * v for k, v in chi2.items()}}


def test_one_pass_batch_matches_state_by_state_terms(make_config):
    config = make_config(noise_rate=0.5, bc_weight=0.3, square_weight=0.7)
    objective, tokenizer, model = _objective(config)
    documents = [Path(config.corpus).read_text().splitlines()]
    examples = objective.examples(documents, tokenizer, config, train=True)
    token = objective.backspace
    w = tokenizer.convert_tokens_to_ids
    objective.buffer.add(
        [
            Sample([2, w("the")], [w("cat"), token, w("dog"), objective.eos_id], True),
            Sample([2], [w("a"), w("cat"), token, token, w("the")], False),
        ]
    )
    objective.step = config.bc_warmup_steps  # SequenceMatch on
    batch = objective.batch(examples, [0, 1, 2, 3], torch.Generator().manual_seed(1))
    models = Models(model)
    with torch.no_grad():
        prepared = objective.prepare(models, batch, torch.Generator().manual_seed(2))
        terms = objective.loss(models, prepared.inputs)
    samples = batch.inputs["samples"]
    assert len(samples) == config.model_rows == 4
    data = batch.inputs["data"]
    inputs = prepared.inputs
    actions = [
        row[: int(n)].tolist()
        for row, n in zip(inputs["actions"], inputs["action_mask"].sum(1), strict=True)
    ]
    noise = [
        (row & ~keep)[: len(a)].tolist()
        for row, keep, a in zip(inputs["action_mask"], inputs["imitate"], actions, strict=True)
    ]
    assert any(any(n) for n in noise)  # some noise was inserted
    for example, sequence, flags in zip(data, actions[:4], noise[:4], strict=True):
        # The data come back once the backspaces are applied; noise tokens precede backspaces.
        assert apply_actions(sequence, token) == example.continuation
        for t, flag in enumerate(flags):
            assert not flag or sequence[t + 1] == token
    assert [s.actions for s in samples] == actions[4:]
    prompts = [e.prompt for e in data] + [s.prompt for s in samples]
    ended = [e.ended for e in data] + [s.ended for s in samples]
    with torch.no_grad():
        expected = _naive_terms(objective, model, prompts, actions, noise, ended, 4, config)
    assert sorted(terms) == sorted(expected) == sorted(prepared.counts)
    for name in expected:
        torch.testing.assert_close(terms[name], expected[name], rtol=1e-4, atol=1e-5)
    imitated = sum(len(a) - sum(f) for a, f in zip(actions[:4], noise[:4], strict=True))
    assert prepared.counts["bc"] == imitated
    assert prepared.counts["model_square"] == 4 and prepared.counts["data_reward"] == 4
    assert prepared.tokens == sum(len(e) for e in data)  # data tokens only


def records(output) -> list[dict]:
    return [json.loads(line) for line in (Path(output) / "metrics.jsonl").read_text().splitlines()]


def test_warm_up_then_mix_with_refreshes(make_config):
    """Warm-up steps 0-1 log BC alone; from step 2 every term; refreshes at steps 2 and 4."""
    output = train_sequencematch(make_config())
    logged = [r for r in records(output) if r["split"] == "train"]
    chi2 = {"bc", "data_reward", "data_square", "model_square", "data_value", "model_value"}
    for record in logged:
        terms = {k for k in chi2 if k in record}
        assert terms == ({"bc"} if record["step"] <= 2 else chi2), record
        assert record["loss"] == pytest.approx(sum(record[k] for k in terms))
    assert [r["buffer_refreshes"] for r in logged] == [0, 0, 1, 1, 2, 2]
    assert [r["buffer_size"] for r in logged] == [0, 0, 3, 3, 4, 4]
    assert all(r["tokens_per_second"] > 0 for r in logged)
    validation = [r for r in records(output) if r["split"] == "validation"]
    assert [r["step"] for r in validation] == [3, 6] and validation[0]["bc"] > 0
    saved = load_file(str(Path(output) / "checkpoints/step-00000006/objective.safetensors"))
    assert int(saved["buffer.refreshes"]) == 2 and len(saved["buffer.ended"]) == 4
    # The output is a causal LM with <bkspc> that `generate` uses.
    assert (
        main(
            [
                "generate",
                "--model",
                str(output),
                "--prompt",
                "the cat",
                "--max-new-tokens",
                "4",
                "--seed",
                "0",
                "-o",
                str(Path(output) / "g.jsonl"),
            ]
        )
        == 0
    )


@pytest.mark.slow
def test_resume_continues_with_the_saved_buffer(make_config, tmp_path):
    settings = dict(max_steps=7)
    straight = train_sequencematch(make_config(output=str(tmp_path / "straight"), **settings))
    config = make_config(output=str(tmp_path / "resumed"), **settings)
    train_sequencematch(config, stop_after=5)  # checkpoint at 3 (after the refresh at 2)
    resumed = train_sequencematch(config)  # the refresh at 4 redone from the saved buffer

    def curve(output):
        return [
            tuple((k, v) for k, v in r.items() if k != "tokens_per_second") for r in records(output)
        ]

    assert curve(resumed) == curve(straight)
    reference = load_file(str(Path(straight) / "model.safetensors"))
    for name, tensor in load_file(str(Path(resumed) / "model.safetensors")).items():
        assert torch.equal(tensor, reference[name]), name


@pytest.mark.parametrize("phi", ["identity", "kl"])
def test_f_divergence_forms_and_model_noise(make_config, phi):
    config = make_config(phi=phi, noise_kind="model", max_steps=3, eval_every=0)
    objective = SequenceMatch(config)
    output = train(config, objective)
    last = records(output)[-2]
    assert {"bc", "reward", "value"} <= set(last) and last["buffer_refreshes"] == 0
    assert len(objective.buffer) == 0  # no samples: these forms use the data alone


def test_on_step_gathers_chunks_in_order(make_config):
    """Two ranks each sample their chunks; gathered in chunk order, both buffers equal the
    one-process buffer (here the two ranks are simulated in one process)."""
    config = make_config(samples_per_refresh=5, batch_size=2, max_new_tokens=3)
    single, tokenizer, model = _objective(config)
    documents = [Path(config.corpus).read_text().splitlines()]
    single.examples(documents, tokenizer, config, train=True)
    step = config.bc_warmup_steps
    with torch.no_grad():
        single.on_step(Models(model), step, StepContext(0, 1, torch.device("cpu"), lambda v: [v]))
        parts = {}
        ranks = []
        for rank in (0, 1):
            objective = SequenceMatch(config)
            objective.check_tokenizer(load_tokenizer_folder(config.init_from))
            objective.limit, objective.train_examples = single.limit, single.train_examples
            ranks.append(objective)

            def gather(value, rank=rank):
                parts[rank] = value
                return [parts.get(0, []), parts.get(1, [])]

            objective.on_step(
                Models(model), step, StepContext(rank, 2, torch.device("cpu"), gather)
            )
    # Rank 1 saw both parts (rank 0's was stored first): its buffer is the full one.
    assert [k for k, _ in parts[0]] == [0, 2] and [k for k, _ in parts[1]] == [1]
    assert ranks[1].buffer.samples == single.buffer.samples[-config.buffer_size :]
    assert len(single.buffer) == 4 and single.buffer.refreshes == 1


def _fails(capsys, argv) -> str:
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    return error


def test_bad_input_is_one_line(make_config, wordlevel_dir, corpus, clm_dir, tmp_path, capsys):
    base = ["train", "sequencematch", "--corpus", str(corpus), "--output", str(tmp_path / "o")]
    error = _fails(capsys, [*base, "--init-from", str(wordlevel_dir), "--max-steps", "1"])
    assert "not a causal LM" in error
    assert "--init-from" in _fails(capsys, base)
    for flag, value, needle in [
        ("--gamma", "1.0", "--gamma"),
        ("--model-fraction", "1", "--model-fraction"),
        ("--bc-weight", "1.5", "--bc-weight"),
        ("--noise-rate", "-0.1", "--noise-rate"),
        ("--sample-every", "0", "--sample-every"),
    ]:
        assert needle in _fails(capsys, [*base, "--init-from", str(clm_dir), flag, value])
    with pytest.raises(SystemExit) as stop:
        main([*base, "--init-from", str(clm_dir), "--noise-kind", "loud"])
    assert stop.value.code == 2


def test_chi2_without_buffer_rows_is_refused(make_config):
    """round(2 x 0.2 / 0.8) = 0 buffer rows: the chi2 loss would run on the data alone, its
    model terms 0 and its V-term halved; refused in one line. BC-only and data-only forms are
    fine without buffer rows."""
    from textebm.errors import UsageError

    for fraction, batch in [(0.2, 2), (0.0, 4)]:
        with pytest.raises(UsageError, match="--model-fraction"):
            make_config(model_fraction=fraction, batch_size=batch)
    assert make_config(model_fraction=0.0, phi="identity").model_rows == 0
    assert make_config(model_fraction=0.0, bc_warmup_steps=6).model_rows == 0  # BC only
    assert make_config(model_fraction=0.0, bc_weight=1.0).model_rows == 0


@pytest.mark.slow
def test_two_processes_resume_and_match_one_process_accumulating_two(make_config, tmp_path):
    """Two gloo processes, interrupted after step 3 and resumed: the curve, buffer and model of
    one process accumulating two micro-batches (chunk k of a refresh is sampled by rank k mod 2
    from its own seed; the buffer is gathered in chunk order)."""
    from accelerate.state import AcceleratorState

    from textebm.recipes.config import save_config

    settings = dict(
        max_steps=4,
        bc_warmup_steps=1,
        checkpoint_every=2,
        samples_per_refresh=5,
        batch_size=2,
        eval_every=0,
    )
    two = make_config(output=str(tmp_path / "two"), **settings)
    config_file = tmp_path / "two.json"
    save_config(two, config_file)
    script = Path(__file__).with_name("sequencematch_script.py")
    for stop_after in ("3", None):  # checkpoint at 2, refreshes at steps 1 and 3
        result = torchrun_two(str(script), str(config_file), *([stop_after] if stop_after else []))
        assert result.returncode == 0, result.stderr[-3000:]
    AcceleratorState._reset_state(reset_partial_state=True)
    one = train_sequencematch(
        make_config(output=str(tmp_path / "one"), grad_accumulation=2, **settings)
    )

    def curve(output):
        skip = {"tokens_per_second"}
        return [{k: v for k, v in r.items() if k not in skip} for r in records(output)]

    assert [r["step"] for r in curve(two.output)] == [1, 2, 3, 4, 4]
    assert curve(two.output)[-2]["buffer_refreshes"] == 2
    for a, b in zip(curve(two.output), curve(one), strict=True):
        assert a.keys() == b.keys()
        for key in a:
            same = a[key] == b[key] or (
                isinstance(a[key], float) and a[key] == pytest.approx(b[key], rel=1e-5)
            )
            assert same, (key, a[key], b[key])
    buffers = [
        load_file(str(Path(folder) / "checkpoints/step-00000004/objective.safetensors"))
        for folder in (two.output, one)
    ]
    for name, tensor in buffers[0].items():
        assert torch.equal(tensor, buffers[1][name]), name
