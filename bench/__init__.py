"""Side-by-side speed benchmark: a tutorial-style reference model vs nmt_keras.

Run `python -m bench` (or `make bench`); see `bench/__main__.py` for the flags,
`bench/harness.py` for what is measured and how, `bench/reference.py` for the
reference model, and `bench/results.md` for the last full run.
"""
