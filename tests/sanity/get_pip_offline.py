"""Offline stand-in for pip's get-pip.py, used by ansible-test's venv bootstrap.

ansible-test downloads get-pip.py from a host that does not answer on the
build machines; it uses ~/.ansible/test/cache/get_pip_<version>.py when that
exists. This stand-in installs pip with ensurepip, then the requested packages
from PyPI with the system CA bundle.
"""

import subprocess
import sys

DROP = {"--no-setuptools", "--no-wheel"}
args = [a for a in sys.argv[1:] if a not in DROP]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", "--cert", "/etc/ssl/certs/ca-certificates.crt", *args])
