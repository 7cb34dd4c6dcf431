"""Published results of the papers ued reproduces (see experiments/published_results.py), read by ued.study."""
