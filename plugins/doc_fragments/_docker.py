# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This doc fragment is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

from __future__ import annotations


class ModuleDocFragment:
    # The Docker daemon option of every module that reads containers.
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The Docker daemon to talk to, for example V(unix:///var/run/docker.sock) or V(tcp://127.0.0.1:2375).
      - If not set, the value of the E(DOCKER_HOST) environment variable is used, else the local socket.
    type: str
    default: unix:///var/run/docker.sock
requirements:
  - docker (the Python Docker SDK) on the target
"""
