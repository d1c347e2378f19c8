"""What the CPU can do, read from the operating system without TensorFlow.

    read_cpuinfo         the text of /proc/cpuinfo (Linux), or None
    cpu_flags            the feature flags in such a text
    bfloat16_cpu_flags   those of bfloat16 matrix units (`BFLOAT16_CPU_FLAGS`)

`nmt_keras.training.distribute.choose_precision` picks bfloat16 on a CPU with bfloat16
units; the benchmark names the flags of the CPU it ran on. Tests replace `read_cpuinfo`
to play either kind of CPU.
"""

import pathlib
import sys

from nmt_keras.constants import BFLOAT16_CPU_FLAGS

CPUINFO = pathlib.Path("/proc/cpuinfo")


def read_cpuinfo():
    """The text of /proc/cpuinfo, or None where there is none (macOS, Windows) or it
    cannot be read."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def cpu_flags(cpuinfo):
    """The feature flags of the first processor in a /proc/cpuinfo text (its `flags`
    line; `Features` on ARM), as a frozenset; None when `cpuinfo` is None or has no
    such line."""
    for line in (cpuinfo or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def bfloat16_cpu_flags(flags):
    """The flags among `BFLOAT16_CPU_FLAGS` (bfloat16 matrix units) that `flags` has,
    in that order."""
    return tuple(flag for flag in BFLOAT16_CPU_FLAGS if flag in (flags or ()))
