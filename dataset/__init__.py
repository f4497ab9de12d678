"""Layer 2: the Beam dataset job (raw photos -> sharded, versioned Lab TFRecords). Imports only `configs` and
`contracts`; a frozen embedder, when the records store its output, is handed in by the caller."""
