{#- Before any layer runs: the Salt extensions the suite's states need are in the minion's own Python
    (from the site's Python mirror, never the public index), and the suite's own modules (_modules,
    _states: bind9, galera, fileshare_pillar ...) are synced from the master. Both report a change only
    when something was actually installed or synced. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set mirrors = fileshare.mirrors if fileshare.mirrors is mapping else {} %}

{%- if mirrors.get('python') %}

the Salt extensions the suite needs are installed in the minion's Python:
  pip.installed:
    - pkgs: {{ fileshare.salt_extensions | json }}
    - bin_env: {{ grains.get('pythonexecutable', '') | json }}
    - no_index: True
    - find_links: {{ mirrors.python | json }}
{%-   if mirrors.python.startswith('http://') %}
    # An internal mirror over plain HTTP: pip ignores it unless told the host is trusted.
    - trusted_host: {{ mirrors.python.split('/')[2].split(':')[0] | json }}
{%-   endif %}
    - reload_modules: True
    - require_in:
      - saltutil: the suite's Salt modules are synced from the master
{%- else %}

the Salt extensions need pillar fileshare:mirrors:python:
  test.fail_without_changes:
    - name: 'fileshare:mirrors:python is not set: Salt extensions install only from the site mirror'
{%- endif %}

the suite's Salt modules are synced from the master:
  saltutil.sync_all:
    - refresh: True
