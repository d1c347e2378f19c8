# Imported by Python at start-up when this directory is on PYTHONPATH: the kernel then
# has `google.colab` in sys.modules, as a Colab kernel does.
import google.colab  # noqa: F401
