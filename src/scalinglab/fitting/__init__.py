"""Fitting scaling laws: the estimator, bootstrap, diagnostics and backtests."""
