"""The one-pass layout of action sequences with `<bkspc>` against recomputing every state.

Both sides give the logits of every state s_0..s_T of a batch of noisy action sequences (data
with uniform noise + `<bkspc>` at --rate); the reference runs one pass per sequence over all its
states, right-padded into a batch (causal attention makes each state's last row exact). Prints
seconds of each, after an untimed warm-up, and their ratio; checks they agree.

    python benchmarks/backspace_layout.py [--batch 8] [--length 90] [--rate 0.1] [--layers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from textebm.data.actions import apply_actions, layout_actions
from textebm.data.backspace_noise import ordinary_ids, uniform_noise
from textebm.models.backspace import add_backspace
from textebm.models.tiny import build_tiny_clm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=90, help="data tokens per sequence")
    parser.add_argument("--rate", type=float, default=0.1, help="noise rate per position")
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        build_tiny_clm(folder, n_layer=args.layers, n_positions=4 * args.length)
        model = AutoModelForCausalLM.from_pretrained(folder).eval()
        tokenizer = AutoTokenizer.from_pretrained(folder)
    backspace = add_backspace(model, tokenizer)
    generator = torch.Generator().manual_seed(0)
    candidates = ordinary_ids(tokenizer)
    data = [
        candidates[torch.randint(len(candidates), (args.length,), generator=generator)].tolist()
        for _ in range(args.batch)
    ]
    actions = [n.actions for n in uniform_noise(data, args.rate, backspace, candidates, generator)]
    prompts = [[tokenizer.bos_token_id]] * args.batch

    def one_pass() -> list[torch.Tensor]:
        layout = layout_actions(prompts, actions, backspace, pad=tokenizer.pad_token_id)
        states = layout.state_logits(model(**layout.model_inputs()).logits)
        return [states[b, : len(a) + 1] for b, a in enumerate(actions)]

    def every_state() -> list[torch.Tensor]:
        out = []
        for prompt, sequence in zip(prompts, actions, strict=True):
            tokens = [
                apply_actions(sequence[:t], backspace, prompt) for t in range(len(sequence) + 1)
            ]
            width = max(map(len, tokens))
            ids = torch.tensor([s + [tokenizer.pad_token_id] * (width - len(s)) for s in tokens])
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
            out.append(
                logits[torch.arange(len(tokens)), torch.tensor([len(s) - 1 for s in tokens])]
            )
        return out

    seconds = {}
    with torch.no_grad():
        for name, run in (("one pass", one_pass), ("every state", every_state)):
            run()  # warm-up
            start = time.perf_counter()
            result = run()
            seconds[name] = time.perf_counter() - start
            if name == "one pass":
                reference = result
        for a, b in zip(reference, result, strict=True):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    steps = max(map(len, actions))
    print(
        f"batch {args.batch}, up to {steps} actions, {args.layers} layers: "
        f"one pass {seconds['one pass']:.3f} s, every state {seconds['every state']:.3f} s, "
        f"ratio {seconds['every state'] / seconds['one pass']:.1f}x (logits agree)"
    )


if __name__ == "__main__":
    main()
