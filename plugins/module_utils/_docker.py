# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""The Docker daemon, reached one way by every module of the collection.

The modules take ``docker_host`` (documented once in the doc fragment
``milos_shop.ops._docker``), falling back to ``DOCKER_HOST`` through
``env_fallback`` and then to the local socket, and talk to the daemon's API
with the docker SDK's low-level ``APIClient`` (no shelling out).
"""

from __future__ import annotations

import traceback

try:
    import docker
    from docker.errors import DockerException, NotFound
except ImportError:
    docker = None
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

    class DockerException(Exception):
        """Stands in for docker.errors.DockerException when the SDK is missing."""

    class NotFound(DockerException):
        """Stands in for docker.errors.NotFound when the SDK is missing."""
else:
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"

# The modules catch these through this file (``_docker.NotFound``), with or without the SDK.
__all__ = ["HAS_DOCKER", "DOCKER_IMPORT_ERROR", "DEFAULT_DOCKER_HOST", "DockerException", "NotFound",
           "docker_argument_spec", "docker_host", "require_docker", "api_client"]


def docker_argument_spec():
    """The ``docker_host`` option; merge it into a module's argument spec."""
    # Imported here so that this file stays importable without Ansible (unit tests).
    from ansible.module_utils.basic import env_fallback

    return dict(docker_host=dict(type="str", default=DEFAULT_DOCKER_HOST, fallback=(env_fallback, ["DOCKER_HOST"])))


def docker_host(params):
    """The daemon address from the module's parameters (DOCKER_HOST is already folded in by env_fallback)."""
    return params.get("docker_host") or DEFAULT_DOCKER_HOST


def require_docker(module):
    """Fail the module with Ansible's missing-library message when the docker SDK is not installed."""
    if not HAS_DOCKER:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)


def api_client(host, timeout=60):
    """A low-level docker APIClient for ``host``."""
    return docker.APIClient(base_url=host, version="auto", timeout=timeout)
