# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the retention_prune module's entry point: options, documentation, and a run through ansible."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible.module_utils import basic
from ansible_collections.milos_shop.ops.plugins.modules import retention_prune

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core before 2.19
    import contextlib
    from unittest import mock

    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args=None):
        with mock.patch.object(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}))):
            yield

# The directory that holds ansible_collections/, as the module was imported from it (not resolved:
# in a checkout it is .cache/collections, whose milos_shop/ops links back to the working tree).
COLLECTIONS = Path(retention_prune.__file__).parents[5]
PREFIX = 'milos_shop_backup_'


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def exit_json(self, **kwargs):
    kwargs.setdefault('changed', False)
    raise ExitJson(kwargs)


def fail_json(self, msg, **kwargs):
    kwargs['failed'] = True
    kwargs['msg'] = msg
    raise FailJson(kwargs)


@pytest.fixture
def module_run(monkeypatch):
    """Run main() with these options; return the result dict, with the warnings the module gave."""
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, warning, *args, **kwargs: warnings.append(warning))

    def call(args, check_mode=False, diff=False):
        del warnings[:]
        args = dict(args)
        args['_ansible_check_mode'] = check_mode
        args['_ansible_diff'] = diff
        with patch_module_args(args):
            with pytest.raises((ExitJson, FailJson)) as caught:
                retention_prune.main()
        result = caught.value.args[0]
        result['warnings'] = list(warnings)
        return result

    return call


def make_backups(directory, days, check_result='ok'):
    for day in days:
        name = '%s2024-01-%02dT03-00-00.db.gz' % (PREFIX, day)
        (directory / name).write_bytes(b'x')
        manifest = dict(backup=name, created='2024-01-%02dT03:00:00Z' % day, sha256=hashlib.sha256(b'x').hexdigest(),
                        check_result=check_result, size=1)
        (directory / (name + '.manifest.json')).write_text(json.dumps(manifest))


# ---------------------------------------------------------------------------
# Documentation and argument spec
# ---------------------------------------------------------------------------

def test_argument_spec_matches_documentation():
    doc = yaml.safe_load(retention_prune.DOCUMENTATION)
    options = doc['options']
    spec = retention_prune.ARGUMENT_SPEC
    assert sorted(options) == sorted(spec)
    for name, option in options.items():
        argument = spec[name]
        assert option['type'] == argument['type'], name
        assert option.get('default') == argument.get('default'), name
        assert option.get('choices') == argument.get('choices'), name
        assert option.get('elements') == argument.get('elements'), name
        assert bool(option.get('required')) == bool(argument.get('required')), name
    assert doc['version_added'] == '0.1.0'
    assert doc['extends_documentation_fragment'] == ['milos_shop.ops._attributes']
    assert {name: value['support'] for name, value in doc['attributes'].items()} == dict(check_mode='full', diff_mode='full', idempotent='full')


def test_examples_and_return_are_yaml():
    examples = yaml.safe_load(retention_prune.EXAMPLES)
    assert all('milos_shop.ops.retention_prune' in task for task in examples)
    returned = yaml.safe_load(retention_prune.RETURN)
    assert set(returned) == {'kept', 'deleted', 'ignored', 'newest_verified', 'rotten', 'msg'}


# ---------------------------------------------------------------------------
# The entry point, in process
# ---------------------------------------------------------------------------

def test_check_mode_then_apply_then_idempotent(module_run, tmp_path):
    make_backups(tmp_path, range(1, 11))
    args = dict(path=str(tmp_path), keep_daily=3, keep_weekly=0, keep_monthly=0)

    predicted = module_run(args, check_mode=True, diff=True)
    assert predicted['changed'] is True
    assert len(list(tmp_path.iterdir())) == 20
    assert [item['reasons'] for item in predicted['kept']] == [['daily', 'newest verified'], ['daily'], ['daily']]
    assert len(predicted['deleted']) == 7
    assert predicted['diff']['before'].count('\n') == 20 and predicted['diff']['after'].count('\n') == 6
    assert 'would delete 7' in predicted['msg']

    applied = module_run(args, diff=True)
    assert applied['changed'] is True
    assert applied['deleted'] == predicted['deleted'] and applied['diff'] == predicted['diff']
    assert len(list(tmp_path.iterdir())) == 6

    again = module_run(args, check_mode=True)
    assert again['changed'] is False and again['deleted'] == []
    assert module_run(args)['changed'] is False


def test_warns_when_nothing_verifies(module_run, tmp_path):
    make_backups(tmp_path, [1, 2], check_result='failed')
    result = module_run(dict(path=str(tmp_path)), check_mode=True)
    assert result['newest_verified'] is None
    assert any('passed verification' in warning for warning in result['warnings'])


@pytest.mark.parametrize('args, message', [
    (dict(keep_daily=-5), 'keep_daily: expected a whole number of 0 or more (or -1 for unlimited), got -5'),
    (dict(keep_within='3m'), "keep_within: the unit m is ambiguous; write mo for months or min for minutes; got '3m'"),
    (dict(timezone='Europe/Atlantis'), "timezone: unknown time zone 'Europe/Atlantis'"),
    (dict(pattern='backup_.*'), "pattern: needs a named group (?P<time>...) holding the time when time_source=name, got 'backup_.*'"),
    (dict(pattern='(?P<time>.*)', prefix='x'), 'parameters are mutually exclusive: pattern|prefix'),
    (dict(time_source='ctime'), 'value of time_source must be one of: name, mtime, got: ctime'),
])
def test_errors_name_the_option_and_value(module_run, tmp_path, args, message):
    make_backups(tmp_path, [1])
    args = dict(args, path=str(tmp_path))
    result = module_run(args)
    assert result['failed'] is True
    assert message in result['msg']
    assert len(list(tmp_path.iterdir())) == 2


def test_missing_directory_fails(module_run, tmp_path):
    result = module_run(dict(path=str(tmp_path / 'gone')))
    assert result['failed'] is True
    assert result['msg'] == 'path: the backup directory %r does not exist' % str(tmp_path / 'gone')


def test_unrecognised_directory_fails_and_lists_what_it_saw(module_run, tmp_path):
    (tmp_path / 'dump-2024-01-01.sql').write_text('x')
    result = module_run(dict(path=str(tmp_path)))
    assert result['failed'] is True
    assert 'none is recognised as a backup' in result['msg'] and "'dump-2024-01-01.sql'" in result['msg']
    assert result['ignored'] == [{'path': str(tmp_path / 'dump-2024-01-01.sql'), 'reason': 'name does not match the backup name'}]
    assert (tmp_path / 'dump-2024-01-01.sql').exists()


def test_unexpected_error_carries_the_traceback(module_run, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError('disk on fire')

    monkeypatch.setattr(retention_prune, 'prune', boom)
    result = module_run(dict(path=str(tmp_path)))
    assert result['msg'] == 'retention_prune failed unexpectedly: disk on fire'
    assert 'RuntimeError' in result['exception']


def test_zoneinfo_missing_fails_with_clear_message(module_run, tmp_path, monkeypatch):
    monkeypatch.setattr(retention_prune, 'HAS_ZONEINFO', False)
    result = module_run(dict(path=str(tmp_path), timezone='Europe/Madrid'))
    assert result['failed'] is True
    assert 'zoneinfo' in result['msg'] and "timezone='Europe/Madrid'" in result['msg']
    assert module_run(dict(path=str(tmp_path)))['changed'] is False


# ---------------------------------------------------------------------------
# Through ansible itself
# ---------------------------------------------------------------------------

def ansible_env(tmp_path):
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_HOME=str(tmp_path / 'ansible-home'),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'),
        ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
        ANSIBLE_STDOUT_CALLBACK='json',
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_INVENTORY_UNPARSED_WARNING='0',
        ANSIBLE_LOCALHOST_WARNING='0',
    )
    return env


def ansible_bin(name):
    found = Path(sys.executable).parent / name
    return str(found) if found.exists() else shutil.which(name)


def adhoc(tmp_path, args, *options):
    command = [ansible_bin('ansible'), 'localhost', '-m', 'milos_shop.ops.retention_prune', '-a', args] + list(options)
    done = subprocess.run(command, cwd=str(tmp_path), env=ansible_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    output = json.loads(done.stdout)
    return output['plays'][0]['tasks'][0]['hosts']['localhost']


def test_adhoc_check_diff_then_apply(tmp_path):
    backups = tmp_path / 'backups'
    backups.mkdir()
    make_backups(backups, range(1, 15))
    (backups / 'notes.txt').write_text('x')
    args = json.dumps(dict(path=str(backups), keep_daily=3, keep_weekly=1, keep_monthly=0))

    predicted = adhoc(tmp_path, args, '--check', '--diff')
    assert predicted['changed'] is True, predicted
    assert len(predicted['deleted']) == 11
    assert predicted['diff']['before'].count('\n') == 28 and predicted['diff']['after'].count('\n') == 6
    assert len(list(backups.iterdir())) == 29

    applied = adhoc(tmp_path, args)
    assert applied['changed'] is True
    assert applied['deleted'] == predicted['deleted']
    assert sorted(p.name for p in backups.iterdir()) == sorted(
        ['notes.txt'] + ['%s2024-01-%02dT03-00-00.db.gz%s' % (PREFIX, day, ext) for day in (12, 13, 14) for ext in ('', '.manifest.json')])

    assert adhoc(tmp_path, args)['changed'] is False


def test_ansible_doc_renders_and_matches_the_argument_spec(tmp_path):
    command = [ansible_bin('ansible-doc'), '--json', 'milos_shop.ops.retention_prune']
    done = subprocess.run(command, cwd=str(tmp_path), env=ansible_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)['milos_shop.ops.retention_prune']['doc']
    assert sorted(doc['options']) == sorted(retention_prune.ARGUMENT_SPEC)
    assert doc['attributes']['check_mode']['support'] == 'full'
    assert doc['attributes']['check_mode']['description']
