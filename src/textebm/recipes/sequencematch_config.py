"""`SequenceMatchConfig`, apart from the recipe so that the command line builds its flags without
importing torch (as `noise_lm_config`). The recipe and its maths: `textebm.recipes.sequencematch`.
"""

from __future__ import annotations

from dataclasses import dataclass

from textebm.errors import UsageError
from textebm.recipes.config import TrainConfig, option


@dataclass
class SequenceMatchConfig(TrainConfig):
    """SequenceMatch fine-tuning of a causal LM with a `<bkspc>` action (Cundy & Ermon 2024)."""

    prompt_tokens: int = option(
        0,
        "for a line without a tab: its first N tokens join bos in the prompt (what model samples "
        "continue; not imitated); a line 'PROMPT<TAB>CONTINUATION' splits at the tab instead",
        "objective",
        metavar="N",
    )
    phi: str = option(
        "chi2",
        "objective: chi2 = the chi^2-mixture SequenceMatch loss (data and model samples); "
        "identity or kl = IQ-Learn's f-divergence form on the data alone (identity: discounted "
        "maximum likelihood)",
        "objective",
        choices=("chi2", "identity", "kl"),
    )
    gamma: float | None = option(
        None,
        "discount in [0, 1) (default: 1 - 1/n, n the mean continuation length of the training "
        "examples in tokens, eos included); the occupancy terms weigh a sequence's steps by "
        "(1 - gamma) gamma^t and its end by gamma^n, so gamma near 1 - 1/n keeps them on the "
        "scale of the per-token BC term, while e.g. the paper's 0.998 on 20-token sequences "
        "puts 0.96 of the weight on the end state and shrinks the SM terms 25-fold",
        "objective",
    )
    square_weight: float = option(
        0.5,
        "weight w of E_data[r^2] + E_model[r^2] in the chi2 loss (1/2: exactly "
        "chi^2(data || mixture) at the optimum, which weighs it against the policy's entropy "
        "at 1/(2w): with <bkspc> a large w lets delete-and-redraw loops pay; 0.05 keeps the "
        "backspaces near the data's rate, see objectives.sequencematch)",
        "objective",
    )
    bc_warmup_steps: int = option(
        100,
        "steps of behavioural cloning (maximum likelihood on the possibly noisy data) alone "
        "before SequenceMatch is mixed in; >= --max-steps trains BC only (MLE, with noise "
        "MLE + <bkspc>)",
        "objective",
        metavar="N",
    )
    bc_weight: float = option(
        0.5,
        "alpha after the warm-up: loss = alpha * BC (per token) + (1 - alpha) * SequenceMatch "
        "(per sequence)",
        "objective",
    )
    noise_rate: float = option(
        0.0,
        "probability of inserting a wrong token and <bkspc> before each continuation token",
        "objective",
    )
    noise_kind: str = option(
        "uniform",
        "the wrong token: uniform over ordinary tokens, or drawn from the current model",
        "objective",
        choices=("uniform", "model"),
    )
    sample_every: int = option(
        50,
        "refresh the replay buffer from the current model every N steps from the end of the "
        "warm-up",
        "sampling",
        metavar="N",
    )
    buffer_size: int = option(
        256, "model samples the replay buffer keeps (oldest dropped first)", "sampling", metavar="N"
    )
    samples_per_refresh: int = option(
        64,
        "sequences sampled at each refresh, continuing the prompts of random training examples",
        "sampling",
        metavar="N",
    )
    sample_temperature: float = option(
        1.0, "temperature of the model samples (0 = greedy)", "sampling"
    )
    max_new_tokens: int = option(
        64, "most actions (tokens and backspaces) per model sample", "sampling", metavar="N"
    )
    model_fraction: float = option(
        0.5,
        "share of each batch's sequences drawn from the replay buffer after the warm-up "
        "(chi2 only): --batch-size data sequences plus round(batch_size f / (1 - f)) samples",
        "sampling",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.init_from is None:
            raise UsageError("pass --init-from DIR, the causal LM to fine-tune")
        if self.gamma is not None and not 0.0 <= self.gamma < 1.0:
            raise UsageError(f"--gamma must lie in [0, 1), not {self.gamma}")
        if self.square_weight < 0:
            raise UsageError(f"--square-weight must be 0 or more, not {self.square_weight}")
        if not 0.0 <= self.bc_weight <= 1.0:
            raise UsageError(f"--bc-weight must lie in [0, 1], not {self.bc_weight}")
        if not 0.0 <= self.noise_rate <= 1.0:
            raise UsageError(f"--noise-rate must lie in [0, 1], not {self.noise_rate}")
        if not 0.0 <= self.model_fraction < 1.0:
            raise UsageError(f"--model-fraction must lie in [0, 1), not {self.model_fraction}")
        if self.sample_temperature < 0:
            raise UsageError(
                f"--sample-temperature must be 0 or more, not {self.sample_temperature}"
            )
        for name in ("sample_every", "buffer_size", "samples_per_refresh", "max_new_tokens"):
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} must be at least 1, not {getattr(self, name)}")
        for name in ("bc_warmup_steps", "prompt_tokens"):
            if getattr(self, name) < 0:
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} must be 0 or more, not {getattr(self, name)}")
        # The chi2 loss estimates E_model[.] on buffer rows: with none it would run silently on
        # the data alone, its model terms 0 and its V-term halved (not the derived objective).
        chi2_runs = self.phi == "chi2" and self.bc_weight < 1.0
        if chi2_runs and self.bc_warmup_steps < self.max_steps and self.model_rows == 0:
            raise UsageError(
                f"--phi chi2 needs model samples in every batch, but --model-fraction "
                f"{self.model_fraction} of --batch-size {self.batch_size} rounds to 0 buffer "
                "rows: raise either (or use --phi identity|kl, which need none)"
            )

    @property
    def model_rows(self) -> int:
        """Buffer sequences per micro-batch after the warm-up (0 unless phi is chi2)."""
        if self.phi != "chi2" or self.bc_weight == 1.0:
            return 0
        return round(self.batch_size * self.model_fraction / (1 - self.model_fraction))
