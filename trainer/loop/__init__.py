"""The training loop in stages, each a small module, called in this order by `trainer.train`:

plan (what to run: dataset, batch, steps) -> state (network, optimizers, checkpoint; restored or warm-started)
-> steps (the compiled train and eval steps) -> validation (the eval split's loss and samples) -> budgeted
(the loop: schedule, weight averaging, checkpoints, epoch reports) -> `trainer.finish` (decoding, export).
"""
