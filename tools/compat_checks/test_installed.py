"""The package is installed from the wheel, and the runtime is still the runtime's own.

Run by tools/compat.py inside each environment, which sets EXPECTED_RUNTIME (the
"name==version" of TensorFlow, Keras and tensorflow-text before the package was
installed) and EXPECTED_WHEEL (the wheel's file name).
"""

import importlib.metadata
import os
import pathlib


def test_the_runtime_keeps_its_own_tensorflow_keras_and_tensorflow_text():
    expected = dict(pin.split("==") for pin in os.environ["EXPECTED_RUNTIME"].split())
    found = {name: importlib.metadata.version(name) for name in expected}
    assert found == expected


def test_nmt_keras_is_the_wheel_installed_in_site_packages():
    import nmt_keras

    wheel_version = os.environ["EXPECTED_WHEEL"].split("-")[1]
    assert importlib.metadata.version("nmt_keras") == nmt_keras.__version__ == wheel_version
    location = pathlib.Path(nmt_keras.__file__).resolve()
    assert "site-packages" in location.parts, f"nmt_keras imported from {location}, not an installation"


def test_the_setup_cells_checks_pass():
    from nmt_keras.colab import check_versions, installed_versions

    import nmt_keras

    line = check_versions({**installed_versions(), "nmt_keras": nmt_keras.__version__})
    assert f"nmt_keras {nmt_keras.__version__}" in line
