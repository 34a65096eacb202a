"""Tests of `safe-local eval` and safe_local.evaluation."""
