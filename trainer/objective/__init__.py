"""What the network is trained on and how its output becomes ab: losses, colour bins, the decoding search, flip
averaging, and the colorization metrics the gate and the benchmarks score with."""
