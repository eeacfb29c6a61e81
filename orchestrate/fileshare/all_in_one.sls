{#- Runbook: deploy the file share on one node (all_in_one).
      salt-run saltutil.sync_all                        # once, so the master has fileshare_pillar
      salt-run state.orchestrate fileshare.all_in_one

    validate pillar -> sync modules -> infrastructure -> database -> intermediate -> storage -> app
    -> load (TLS front, DNS) -> backups (restic repository, timers) -> smoke check. Each step targets
    the nodes whose roles in fileshare:nodes ask for that layer; the first failure stops the run
    (failhard) and names the step. Run it again at any time: a converged site reports no changes. The
    step macros: steps.jinja. -#}
{%- from "fileshare/steps.jinja" import targets, validated, synced, step with context %}

{{ validated() }}
{{ synced() }}

{%- set steps = [
      ('infrastructure is in place (mirrors, packages, journald, logrotate)', 'infra', 'fileshare.infra'),
      ('the database is up with the product database and user', 'db', 'fileshare.db'),
      ('Redis and Memcached are up', 'intermediate', 'fileshare.intermediate'),
      ('the data directory is ready', 'storage', 'fileshare.storage'),
      ('the app server serves the product and the health endpoint', 'app', 'fileshare.app'),
      ('the TLS front and DNS are up', 'load', 'fileshare.load'),
      ('backups are scheduled into the restic repository', 'backup', 'fileshare.backup_job'),
    ] %}
{#- Each step requires the one before it: the run is a strict sequence. #}
{%- set previous = namespace(title="the suite's modules are synced to every node") %}
{%- for title, role, sls in steps %}
{{ step(title, targets(role), sls, previous.title) }}
{%-   set previous.title = title %}
{%- endfor %}

# Through HTTPS at the service's name, on each TLS front: /health is 200 (database write, Redis,
# data directory all fine) and a file survives a WebDAV PUT/GET round trip. Changes nothing.
{{ step('the file share works end to end (health 200, WebDAV round trip)', targets('load'),
        'fileshare.infra.smoke', previous.title) }}
