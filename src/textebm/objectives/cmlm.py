"""The conditional masked LM's training loss (Mask-Predict, Ghazvininejad et al. 2019).

Masking (Mask-Predict's uniform masking): for a target with n content tokens, draw the number
of masks k uniformly from 1 .. n, then a uniformly random k-subset of the n positions, and
replace every chosen token by [MASK] (no 80/10/10 split: at decoding time the model only ever
sees [MASK]s and its own predictions). Per pair, with M the masked positions and L = n:

    masked  = -sum_{t in M} log p(y_t | y_{not M}, x)          (summed; normalised by sum |M|)
    length  = -w log p(L | x)                                   (summed; normalised by pairs)

so the step minimises the mean masked-token cross-entropy plus w times the mean length NLL.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def choose_masks(content: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Positions to mask: (batch, length) bool, k ~ U{1..n} of each row's n content positions,
    the k chosen uniformly; rows with n = 0 get none.

    content: (batch, length) bool, the target's content tokens (not [CLS], [SEP], padding).
    """
    n = content.sum(dim=1)
    u = torch.rand(n.shape, generator=generator)
    k = (torch.floor(u * n).long() + 1).clamp(max=n)  # uniform in 1..n; 0 where n = 0
    keys = torch.rand(content.shape, generator=generator).masked_fill(~content, 2.0)
    rank = torch.argsort(torch.argsort(keys, dim=1), dim=1)  # content positions rank first
    return content & (rank < k.unsqueeze(1))


def cmlm_loss(
    model,
    source_ids: torch.Tensor,
    source_mask: torch.Tensor,
    masked_target: torch.Tensor,
    target_mask: torch.Tensor,
    target: torch.Tensor,
    masked: torch.Tensor,
    lengths: torch.Tensor,
    length_weight: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(masked-token cross-entropy summed over `masked`, w x length NLL summed over pairs).

    source_ids, source_mask: (batch, S); masked_target, target_mask, target, masked:
    (batch, T) (the masked input, its mask, the true tokens, the masked positions);
    lengths: (batch,) int64 true content lengths. The output layer runs at masked positions
    only (the rest of the target costs no vocabulary-sized product).
    """
    encoded = model.encode(source_ids, source_mask)
    hidden = {}
    head = model.get_output_embeddings()

    def keep(module, args):  # hand the output layer only the masked positions' states
        hidden["rows"] = args[0][masked]
        return (hidden["rows"], *args[1:])

    handle = head.register_forward_pre_hook(keep)
    try:
        logits = model.decode(
            masked_target, target_mask, encoded.last_hidden_state, source_mask
        )  # (n masked, vocab)
    finally:
        handle.remove()
    masked_loss = F.cross_entropy(logits.float(), target[masked], reduction="sum")
    length_log_probs = model.predict_length(encoded)
    length_loss = -length_log_probs.gather(1, lengths.unsqueeze(1)).sum()
    return masked_loss, length_weight * length_loss
