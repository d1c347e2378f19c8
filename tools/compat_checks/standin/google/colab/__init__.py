"""A stand-in for Google Colab's `google.colab` module, for tools/compat.py.

The notebooks' setup cell takes the Colab path when `google.colab` is imported, as it
is in every Colab kernel; `sitecustomize.py` beside this package imports it at start-up.
`google` stays a namespace package, so `google.protobuf` still imports.
"""
