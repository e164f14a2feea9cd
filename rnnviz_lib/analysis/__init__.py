"""Analyses of trained models and baselines: compute arrays and tables, never draw.

One module per concept (activations, features, cells, gates, long-range, errors/onion, t-SNE).
"""
