"""Why Electric's NCE loss sits flat at the base rate on the embedded language: the diagnosis.

Reads a run folder laid out as `electric_vs_pll.py` leaves it (RUN/data, RUN/tokenizer, RUN/cloze,
RUN/pairs.jsonl and an Electric model folder) and prints, on the validation sentences with the
validation's own seeded choices and draws (`Electric.evaluate`'s):

- how often the noise draw equals the original token, and how often it leaves the sentence
  grammatical (the grammar knows): what Electric ever gets to see as noise;
- the NCE loss of Electric, of "copy q" (E = -log q, which makes the logit the prior and the loss
  the prior's entropy) and of the best constant E;
- on lines with k = 1, the Bayes-optimal NCE loss and accuracy from the grammar's exact
  probabilities: P(j is the noisy position | x~) is proportional to p(x~ without j) q(x~_j | x~
  without j), since the two-tower q never reads position j itself;
- the noise model's own one-pass pair accuracy (energy sum_t -log q(x_t | x_{-t})).

    python experiments/grammar/electric_diagnose.py --run RUN --electric RUN/electric
        [--noise-uniform X]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
from transformers import AutoModel


def log_sum_exp(values: list[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="experiments/grammar/runs/electric-vs-pll")
    parser.add_argument("--electric", default=None, help="Electric folder (default: RUN/electric)")
    parser.add_argument("--noise-uniform", type=float, default=0.0)
    args = parser.parse_args()

    from textebm.data.grammar import default_grammar
    from textebm.data.tokenizers import load_tokenizer_folder
    from textebm.objectives.electric import (
        counted,
        electric_loss,
        noise_log_probs,
        noise_logits,
        sequence_sizes,
    )
    from textebm.recipes.electric import Electric
    from textebm.recipes.electric_config import ElectricTrainConfig
    from textebm.recipes.loop import Models, derive_seed
    from textebm.recipes.objective import Auxiliary

    run = Path(args.run)
    tokenizer = load_tokenizer_folder(str(run / "tokenizer"))
    config = ElectricTrainConfig(
        corpus=str(run / "data/train.txt"),
        tokenizer=str(run / "tokenizer"),
        output=str(run / "unused"),
        noise=str(run / "cloze"),
        noise_uniform=args.noise_uniform,
        context_length=32,
        batch_size=64,
        preset="tiny",
    )
    objective = Electric(config)
    objective.check_tokenizer(tokenizer)
    lines = (run / "data/validation.txt").read_text().splitlines()
    examples = objective.examples([lines], tokenizer, config, train=False)
    electric = AutoModel.from_pretrained(args.electric or run / "electric").eval()
    noise = AutoModel.from_pretrained(run / "cloze").eval()
    models = Models(electric, {"noise": Auxiliary(noise)})
    grammar = default_grammar()
    words_of = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    torch.set_grad_enabled(False)

    print("Electric.evaluate:", objective.evaluate(models, examples, config))
    choices = torch.Generator().manual_seed(derive_seed(config.seed, "validation"))
    draws = torch.Generator().manual_seed(derive_seed(config.seed, "validation", 1))
    batch = objective.batch(examples, list(range(len(examples))), choices)
    inputs = objective.prepare(models, batch, draws).inputs
    ids, corrupted, chosen = inputs["input_ids"], inputs["corrupted"], inputs["chosen"]
    ordinary, log_q, attention = inputs["ordinary"], inputs["log_q"], inputs["attention_mask"]
    mask = counted(ordinary)
    count = int(mask.sum())
    same = float((corrupted == ids)[chosen].float().mean())
    print(
        f"counted tokens {count}, noise share {float(chosen[mask].float().mean()):.4f}; the "
        f"draw equals the original token at {same:.3f} of noise positions"
    )
    energies = electric(input_ids=corrupted, attention_mask=attention).energies
    s = noise_logits(energies, log_q, ordinary)
    print(
        f"Electric: loss {float(electric_loss(energies, log_q, chosen, ordinary)) / count:.4f}, "
        f"calls noise at {float((s[mask] > 0).float().mean()):.4f} of positions"
    )
    copy = float(electric_loss(-log_q, log_q, chosen, ordinary)) / count
    constant = min(
        float(electric_loss(torch.full_like(log_q, c / 4), log_q, chosen, ordinary)) / count
        for c in range(-4, 40)
    )
    print(
        f"copy q (E = -log q, the prior's entropy): loss {copy:.4f}; best constant E: "
        f"{constant:.4f}"
    )

    # Bayes on k = 1 lines; q on the corrupted line at j never reads x~_j.
    _, k = sequence_sizes(ordinary)
    excluded = objective.context_ids
    q_here = noise_log_probs(noise(corrupted, attention).logits, excluded, args.noise_uniform)
    vocabulary = grammar.vocabulary()
    totals = {"bayes": 0.0, "right": 0, "electric": 0.0, "copy": 0.0, "tokens": 0}
    rows = changed = ungrammatical = 0
    for r in (k == 1).nonzero()[:, 0].tolist():
        positions = ordinary[r].nonzero()[:, 0].tolist()
        words = [words_of[i] for i in corrupted[r, positions].tolist()]
        joint = []
        for a, j in enumerate(positions):
            others = [
                grammar.log_prob(" ".join([*words[:a], w, *words[a + 1 :]])) for w in vocabulary
            ]
            joint.append(log_sum_exp(others) + float(q_here[r, j, corrupted[r, j]]))
        z = log_sum_exp(joint)
        for a, j in enumerate(positions):
            posterior = min(max(math.exp(joint[a] - z), 1e-12), 1 - 1e-12)
            noisy = bool(chosen[r, j])
            totals["bayes"] -= math.log(posterior if noisy else 1 - posterior)
            totals["right"] += int((posterior > 0.5) == noisy)
        row = torch.zeros_like(mask)
        row[r, positions] = True
        totals["electric"] += float(electric_loss(energies, log_q, chosen, ordinary & row))
        totals["copy"] += float(electric_loss(-log_q, log_q, chosen, ordinary & row))
        totals["tokens"] += len(positions)
        rows += 1
        changed += int(not torch.equal(corrupted[r], ids[r]))
        ungrammatical += int(not grammar.is_grammatical(" ".join(words)))
    n = totals["tokens"]
    print(
        f"k = 1 lines {rows} ({n} tokens): the draw changed the line in {changed / rows:.3f}, "
        f"made it ungrammatical in {ungrammatical / rows:.3f}"
    )
    print(
        f"  NCE loss: Bayes-optimal {totals['bayes'] / n:.4f}, copy q {totals['copy'] / n:.4f}, "
        f"Electric {totals['electric'] / n:.4f}; accuracy: Bayes-optimal "
        f"{totals['right'] / n:.4f}, base rate {1 - rows / n:.4f}"
    )

    # The noise model as a one-pass scorer on the held-out pairs.
    pairs = [json.loads(line) for line in (run / "pairs.jsonl").read_text().splitlines()]

    def energy(texts: list[str]) -> torch.Tensor:
        encoded = tokenizer(texts, padding=True, return_tensors="pt")
        scored = encoded["attention_mask"].bool() & ~torch.isin(encoded["input_ids"], excluded)
        logits = noise(encoded["input_ids"], encoded["attention_mask"]).logits
        read = noise_log_probs(logits, excluded).gather(-1, encoded["input_ids"][..., None])
        return -torch.where(scored, read[..., 0], 0.0).sum(1)  # -inf at [CLS], [SEP], [PAD]

    good = energy([p["sentence_good"] for p in pairs])
    bad = energy([p["sentence_bad"] for p in pairs])
    right = (good < bad).float() + 0.5 * (good == bad).float()
    groups = {g: float(right[[p["group"] == g for p in pairs]].mean()) for g in ("swap", "replace")}
    print(f"noise model as a one-pass scorer: pair accuracy {float(right.mean()):.3f} {groups}")


if __name__ == "__main__":
    main()
