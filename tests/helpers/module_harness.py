"""Run a module's main() in-process, as the unit tests of the modules do."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args


def run_main(main, args, check_mode=False, diff=False) -> bool:
    """Run main() with args; return whether it failed (the JSON result is on stdout)."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            main()
    return info.value.code != 0


def result_of(capsys) -> dict:
    """The JSON result the module printed."""
    return json.loads(capsys.readouterr().out)
