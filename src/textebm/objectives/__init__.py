"""Training losses: small functions, each with its maths in its module's docstring.

An objective's loss is kept apart from its wiring (`textebm.recipes`: configuration, examples,
batches, the shared loop), so that it can be read, tested against a hand-computed case and reused
on its own. Every loss returns a sum over its units (tokens, sequences), never a mean: the loop
divides by the number of units over the whole effective batch, so the result does not depend on
how the batch is cut into micro-batches and processes.
"""

from textebm.objectives.causal_lm import causal_lm_loss
from textebm.objectives.masked_lm import mask_tokens, masked_lm_loss

__all__ = ["causal_lm_loss", "mask_tokens", "masked_lm_loss"]
