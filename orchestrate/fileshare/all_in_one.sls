{#- Runbook: deploy the file share on one node (all_in_one).
      salt-run saltutil.sync_all                        # once, so the master has fileshare_pillar
      salt-run state.orchestrate fileshare.all_in_one

    validate pillar -> sync modules -> infrastructure -> database -> intermediate -> storage -> app
    -> load (TLS front, DNS) -> smoke check. Each step targets the nodes whose roles in fileshare:nodes
    ask for that layer; the first failure stops the run (failhard) and names the step. Run it again at
    any time: a converged site reports no changes.

    Rendering must survive a malformed pillar (every lookup has a default), so that the validation
    step, not a render error, is what reports the problem. -#}
{%- set site = salt['pillar.get']('fileshare', {}) %}
{%- set site = site if site is mapping else {} %}
{%- set nodes = site.get('nodes', []) %}
{%- set nodes = nodes if nodes is iterable and nodes is not string and nodes is not mapping else [] %}
{%- macro targets(role=None) -%}
{%-   set names = [] %}
{%-   for node in nodes if node is mapping and node.get('name') is string %}
{%-     set roles = node.get('roles', []) %}
{%-     if role is none or (roles is iterable and role in roles) %}{% do names.append(node.name) %}{% endif %}
{%-   endfor %}
{{- names | join(',') }}
{%- endmacro %}

pillar is valid for the site:
  fileshare_pillar.validated:
    - name: fileshare
    - failhard: True

# Nodes get what the steps below run: the Salt extensions (mysql_* states, from the site's Python
# mirror) and the suite's own modules (bind9, galera ...).
the suite's modules are synced to every node:
  salt.state:
    - tgt: {{ targets() | json }}
    - tgt_type: list
    - sls: fileshare.infra.sync
    - failhard: True
    - require:
      - fileshare_pillar: pillar is valid for the site

{%- set steps = [
      ('infrastructure is in place (mirrors, packages, journald, logrotate)', 'infra', 'fileshare.infra'),
      ('the database is up with the product database and user', 'db', 'fileshare.db'),
      ('Redis and Memcached are up', 'intermediate', 'fileshare.intermediate'),
      ('the data directory is ready', 'storage', 'fileshare.storage'),
      ('the app server serves the product and the health endpoint', 'app', 'fileshare.app'),
      ('the TLS front and DNS are up', 'load', 'fileshare.load'),
    ] %}
{#- Each step requires the one before it: the run is a strict sequence. #}
{%- set step = namespace(previous="the suite's modules are synced to every node") %}
{%- for title, role, sls in steps %}

{{ title }}:
  salt.state:
    - tgt: {{ targets(role) | json }}
    - tgt_type: list
    - sls: {{ sls }}
    - failhard: True
    - require:
      - salt: {{ step.previous }}
{%-   set step.previous = title %}
{%- endfor %}

# Through HTTPS at the service's name, on each TLS front: /health is 200 (database write, Redis,
# data directory all fine) and a file survives a WebDAV PUT/GET round trip. Changes nothing.
the file share works end to end (health 200, WebDAV round trip):
  salt.state:
    - tgt: {{ targets('load') | json }}
    - tgt_type: list
    - sls: fileshare.infra.smoke
    - failhard: True
    - require:
      - salt: {{ steps[-1][0] }}
