"""ColorizationEvaluator: colorization metrics, a quality gate against the latest blessed model, a report."""
