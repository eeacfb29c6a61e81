{#- Runbook: restore from the backup repository (docs/backup.md).
      salt-run state.orchestrate fileshare.restore pillar='{"restore": {"scope": "path", "path": "alice/docs"} }'
      salt-run state.orchestrate fileshare.restore pillar='{"restore": {"scope": "site", "snapshot": "1a2b3c4d"} }'
      salt-run state.orchestrate fileshare.restore pillar='{"restore": {"scope": "site", "time": "2026-12-07T02:10:00Z"} }'

    pillar restore:snapshot  `latest` (default) or a snapshot id (prefix of at least 4 hex digits)
           restore:time      (scope site) a point in time, UTC: the newest backup before it, its
                             database rolled forward by the archived binary logs up to that second
                             (they are archived first while the database answers); excludes snapshot
           restore:scope     `site`: the database and the whole data directory, writers stopped;
                             `path`: one path of the data directory (restore:path, relative to it) put
                             back in place while the site keeps serving; files created since are kept

    validate pillar -> the site has a backup node, on an architecture whose restore is built -> modules
    synced (site: every node; path: the backup node) -> the snapshot, scope and path are checked on
    the backup node: the repository opens, the snapshot exists, the path is in it (else one message
    naming the problem; no node has changed) ->
    site: the app server and WebDAV stopped on the app nodes -> database and data directory restored
    (what was there is kept beside as *.pre-restore-<time>); on HA MariaDB is stopped on every database
    node first, each gets the same restored copy, and the galera.recover runner bootstraps the cluster
    from it (the others join with nothing to transfer), then the quorate gate -> the app layer applied
    (starts the writers) -> smoke check.
    path: the path restored in place.
    The step's return names the snapshot, the database position it holds and the duration. -#}
{%- from "fileshare/steps.jinja" import targets, validated, synced, step, call, gate, refused, topology,
    galera_recovered with context %}
{%- from "fileshare/map.jinja" import mapdata as fileshare with context %}
{%- set mariadb = fileshare.mariadb %}
{%- set node = targets('backup') %}
{%- set restore = salt['pillar.get']('restore', {}) %}
{%- set restore = restore if restore is mapping else {} %}
{%- set snapshot = restore.get('snapshot', 'latest') | string %}
{%- set scope = restore.get('scope', '') | string %}
{%- set path = restore.get('path', '') | string %}
{%- set when = {'when': restore.time | string} if restore.get('time') else {} %}
{#- The app layer's services: the site's writers. #}
{%- set writers = [fileshare.php.fpm_service] %}
{%- if fileshare.app.server == 'apache' %}{% do writers.append(fileshare.apache.service) %}{% endif %}
{%- if fileshare.app.webdav.engine == 'wsgidav' or not topology.single_host %}
{%-   do writers.append(fileshare.wsgidav.service) %}
{%- endif %}

{{ validated() }}
{%- if not node %}
{{ refused('a node holds the backup repository',
           'no node holds role backup (fileshare:nodes): docs/backup.md') }}
{%- else %}
{#- A path restore calls the backup node only, while the site serves: it syncs that node only. #}
{%-   if scope == 'site' %}
{{ synced() }}
{%-   else %}
{{ synced("the suite's modules are synced to the backup node", node) }}
{%-   endif %}
{{ call('the snapshot, scope and path are checked before anything changes', node, 'fileshare_backup.resolve',
        [snapshot, scope, path], when) }}
{%-   if scope == 'site' %}
{%-     for service in writers %}
{{ gate(service ~ ' is stopped on the app nodes (no writes during the restore)', targets('app'),
        'service.dead', {'name': service}) }}
{%-     endfor %}
{%-     if topology.single_host %}
{{ call('the database and the data directory are restored from the snapshot', node,
        'fileshare_backup.restore_site', [snapshot], when) }}
{%-     else %}
{#-       Every member gets the same copy and grastate.dat at its position; the recovery runner then
          bootstraps one and the others join it with nothing to transfer. #}
{{ gate(mariadb.service ~ ' is stopped on every database node (each gets the restored copy)', targets('db'),
        'service.dead', {'name': mariadb.service}) }}
{{ call('the database and the data directory are restored from the snapshot', node,
        'fileshare_backup.restore_site', [snapshot], when) }}
{{ galera_recovered('the database cluster is bootstrapped from the restored copy', targets('db')) }}
{{ step('the database cluster is quorate with every member synced', targets('db'), 'fileshare.db.quorate',
        'the database cluster is bootstrapped from the restored copy') }}
{%-     endif %}
{{ step('the app server serves again', targets('app'), 'fileshare.app', 'previous') }}
{{ step('the file share works end to end (health 200, WebDAV round trip)', targets('load'),
        'fileshare.infra.smoke', 'the app server serves again') }}
{%-   else %}
{{ call('the path is restored in place from the snapshot', node, 'fileshare_backup.restore_path',
        [snapshot, path]) }}
{%-   endif %}
{%- endif %}
