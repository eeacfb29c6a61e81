{#- Runbook: take a backup now (the timer takes one every day: docs/backup.md).
      salt-run state.orchestrate fileshare.backup

    validate pillar -> the site has a backup node, on an architecture whose backup is built ->
    modules synced on the backup node -> the repository opens with the site's password (else one
    message naming the problem: unreachable, not initialised, wrong password) -> the backup:
    mariabackup's prepared copy of the database, then the data directory, into one restic snapshot
    tagged with the database position;
    old snapshots forgotten by fileshare:backup:retention. The step's return names the snapshot, the
    GTID and the durations. -#}
{%- from "fileshare/steps.jinja" import targets, validated, synced, call, refused, topology with context %}
{%- set node = targets('backup') %}

{{ validated() }}
{%- if not node %}
{{ refused('a node holds the backup repository',
           'no node holds role backup (fileshare:nodes): docs/backup.md') }}
{%- else %}
{#- Only the backup node is called: syncing every node would cost the users more than the backup. #}
{{ synced("the suite's modules are synced to the backup node", node) }}
{{ call('the backup repository opens with the site password', node, 'fileshare_backup.probe') }}
{{ call('a backup is taken (database copy, then files) and old snapshots forgotten', node,
        'fileshare_backup.run') }}
{%- endif %}
