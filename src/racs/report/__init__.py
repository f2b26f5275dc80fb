"""The traffic report: where prompt-cache money goes."""
