#!/usr/bin/python3
# An Ansible module that brings the processes of a host to a hotpatch fix (hotpatch apply FIX.json), or takes it off,
# and reports `changed` from hotpatch's JSON: a second run of the same play changes nothing.
from __future__ import annotations

DOCUMENTATION = r'''
module: hotpatch_fix
short_description: Apply a hotpatch fix manifest to running processes, or take it off
options:
  manifest: {description: Path of the fix manifest on the host (format hotpatch-fix/1), required: true, type: path}
  state: {description: present applies the fix, absent reverts it, choices: [present, absent], default: present, type: str}
  pids: {description: The processes to patch; without pids, all_named or mapping, every process mapping the fix's modules, type: list, elements: int}
  all_named: {description: Every process with this name (pgrep's meaning), type: str}
  mapping: {description: Every process that maps this library or executable (basename or path), type: str}
  all_or_none: {description: One process failing undoes the run in the others, type: bool, default: false}
  jobs: {description: Processes worked on at once, type: int}
  hotpatch: {description: The hotpatch command (a list, e.g. [node, /opt/hotpatch/dist/src/cli/bin.cjs]), type: list, elements: str, default: [hotpatch]}
'''

import json

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            manifest=dict(type='path', required=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            pids=dict(type='list', elements='int'),
            all_named=dict(type='str'),
            mapping=dict(type='str'),
            all_or_none=dict(type='bool', default=False),
            jobs=dict(type='int'),
            hotpatch=dict(type='list', elements='str', default=['hotpatch']),
        ),
        mutually_exclusive=[['pids', 'all_named', 'mapping']],
        supports_check_mode=False,
    )
    p = module.params
    argv = list(p['hotpatch']) + ['apply']
    if p['state'] == 'absent':
        argv.append('--revert')
    argv += [p['manifest'], '--json']
    if p['pids']:
        argv += ['-p', ','.join(str(pid) for pid in p['pids'])]
    if p['all_named']:
        argv += ['--all', p['all_named']]
    if p['mapping']:
        argv += ['--mapping', p['mapping']]
    if p['all_or_none']:
        argv.append('--all-or-none')
    if p['jobs']:
        argv += ['--jobs', str(p['jobs'])]

    rc, out, err = module.run_command(argv)
    lines = []
    for text in out.splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            pass
    summary = next((l for l in lines if l.get('summary')), None)
    processes = [l for l in lines if not l.get('summary')]
    result = dict(cmd=argv, rc=rc, processes=processes, summary=summary, stderr=err)
    if summary is None:
        # No summary: the run never started (a usage error, a bad manifest, no process chosen).
        module.fail_json(msg=(err.strip() or 'hotpatch gave no summary'), changed=False, **result)
    # Changed when any process changed: a failed --all-or-none run undid its changes, but still touched processes.
    result['changed'] = summary.get('changed', 0) > 0
    if rc != 0:
        failed = [l for l in processes if l.get('ok') is False]
        first = failed[0]['error'] if failed and 'error' in failed[0] else {'message': err.strip()}
        module.fail_json(msg='hotpatch failed in %d process(es): %s' % (summary.get('failed', 0), first.get('message')), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
