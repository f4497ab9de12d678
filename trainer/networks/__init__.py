"""The colorizer networks: `unet` (EfficientNet-Lite0 encoder, U-Net decoder), `fusion`/`beta` (Deep
Koalarization's encoder-decoder, with or without a frozen ImageNet embedding), the EfficientNet-Lite0 port and
its checkpoint reader; `builder` builds the configured one with its optimizers."""
