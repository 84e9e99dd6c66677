"""Monitoring: drift statistics between a reference window and a current window, their plots, and embeddings."""
