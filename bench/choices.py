"""nmt_keras' training-speed choices, and switching them off in a variant's process.

The rows of `python -m bench.ablation` (`ABLATIONS`, described in `bench/ablation.py`):
each names the choices it undoes (`switches`); `bench.harness` undoes them in the
variant's own subprocess (`apply`) before it builds the model. Nothing here imports
another module of `bench`.
"""

ABLATIONS = ("all", "keras-kernels", "all-positions", "wide-buckets", "none")
# The bucket width that "wide-buckets" goes back to.
WIDE_BUCKET_WIDTH = 4


def switches(ablation):
    """The set of choices an ablation undoes."""
    if ablation not in ABLATIONS:
        raise ValueError(f"unknown ablation {ablation!r}; choose one of {ABLATIONS}")
    if ablation == "none":
        return set(ABLATIONS) - {"all", "none"}
    return set() if ablation == "all" else {ablation}


def apply(ablation):
    """Undoes the ablation's choices in this process (before the model is built).

    Returns:
        keyword arguments for the harness: `kernels` and `bucket_width` overrides.
    """
    from nmt_keras.model import Seq2Seq

    undone = switches(ablation)
    overrides = {}
    if "keras-kernels" in undone:
        overrides["kernels"] = "keras"
    if "all-positions" in undone:
        Seq2Seq.needs_static_shapes = lambda self: True
    if "wide-buckets" in undone:
        overrides["bucket_width"] = WIDE_BUCKET_WIDTH
    return overrides
