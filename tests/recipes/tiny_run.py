"""The tiny, fast model and schedule that the recipe tests train, whatever the objective: one
layer of width 32, six steps of eight examples, a validation and a checkpoint every three."""

TINY_RUN = dict(
    layers=1,
    hidden_size=32,
    heads=2,
    intermediate_size=64,
    context_length=16,
    batch_size=8,
    max_steps=6,
    eval_every=3,
    log_every=1,
    checkpoint_every=3,
    learning_rate=3e-3,
)
