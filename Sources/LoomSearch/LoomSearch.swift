// Placeholder until the searchers land.
