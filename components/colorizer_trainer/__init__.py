"""ColorizerTrainer: TFX's standard Trainer contract (TrainerSpec) with an executor that needs no TFDV."""
