"""Argument checks shared by the layers: fail early with a message naming the value."""


def require_positive(owner, **sizes):
    """Raises ValueError unless every size is an int >= 1.

    Example: `require_positive("Encoder", units=0)` raises
    "Encoder units must be an int >= 1, got 0".
    """
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{owner} {name} must be an int >= 1, got {value!r}")
