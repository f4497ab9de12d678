"""The colorizer's trainer, in layers (each imports only those below it):

    train, task, finish            the TFX entry (`train.run_fn`), the command line, the run's last stage
    export, runtime_exports        the SavedModel, and its network core for TFLite and ONNX next to it
    loop/                          the training loop in stages, schedule, distribution, averaging, warm start
    input/  networks/              tf.data batches | the networks and their builder
    objective/                     losses, colour bins, decoding, flip averaging, metrics
    scaling                        the networks' numeric conventions for L and ab
"""
