"""Runbook steps: HTTP calls, shell commands and a wait-until-healthy check."""
