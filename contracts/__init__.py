"""Layer 1: the contracts every stage reads (colour conversion, record schema, file layout, decoding, limits,
dead letters, Beam file matching). Imports only `configs` among this project's packages."""
