"""
``cmd.run`` for the suite's guarded commands: ``unless``, ``onlyif`` and ``creates`` are checked here.

Why not ``cmd.run`` with the same arguments: before any state that carries one of these, Salt 3008's
state engine asks whether ``<module>.mod_run_check`` exists (salt/state.py). ``cmd`` has none, and the
loader answers that miss by loading every state module and, through their ``__virtual__`` checks,
every execution module: ~1 s of CPU in each state run that holds such a state, while the check itself
takes milliseconds (measured with salt-call on Salt 3008.4). This module has ``mod_run_check``, so the
lookup hits, and the checks behave as Salt's own: all of ``unless`` succeed, any of ``onlyif`` fails, or
every path of ``creates`` exists -> nothing runs and nothing changed, under test=True as well.

.. code-block:: yaml

    Apache module dav is enabled:
      fileshare_cmd.run:
        - name: a2enmod -q dav
        - creates: /etc/apache2/mods-enabled/dav.load
"""

import os

__virtualname__ = "fileshare_cmd"

# The arguments of cmd.run the checks run with too (where and as whom the command runs).
CHECK_OPTIONS = ("cwd", "runas", "shell", "env", "umask")


def __virtual__():
    return __virtualname__


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def skip_reason(onlyif, unless, creates, succeeds, exists):
    """Why the command must not run (Salt's comment for it), or None: pure logic over the checks.
    SUCCEEDS(command) -> bool runs a check; EXISTS(path) -> bool; both are called only as needed."""
    onlyif, unless, creates = _as_list(onlyif), _as_list(unless), _as_list(creates)
    for command in onlyif:
        if not succeeds(command):
            return "onlyif condition is false"
    if unless and all(succeeds(command) for command in unless):
        return "unless condition is true"
    if creates and all(exists(path) for path in creates):
        return "All files in creates exist"
    return None


def mod_run_check(cmd_kwargs, onlyif, unless, creates):
    """Salt calls no generic check for a module that has this function; run() calls it."""
    options = {k: v for k, v in (cmd_kwargs or {}).items() if k in CHECK_OPTIONS and v is not None}

    def succeeds(command):
        return (
            __salt__["cmd.retcode"](
                command, python_shell=True, ignore_retcode=True, output_loglevel="quiet", **options
            )
            == 0
        )

    reason = skip_reason(onlyif, unless, creates, succeeds, os.path.exists)
    if reason:
        return {"comment": reason, "result": True, "skip_watch": True}
    return True


def run(name, onlyif=None, unless=None, creates=None, **kwargs):
    """
    Run NAME as ``cmd.run`` does (every other argument passes through), unless a check says not to.
    """
    checked = mod_run_check(kwargs, onlyif, unless, creates)
    if isinstance(checked, dict):
        return {"name": name, "changes": {}, **checked}
    return __states__["cmd.run"](name, **kwargs)
