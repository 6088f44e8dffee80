"""Statistics where every metric carries a 95% confidence interval."""
