{#- Before any layer runs: the suite's own modules (_modules, _states: bind9, galera, fileshare_pillar
    ...) are synced from the master, and the Salt extensions the suite's states need are in the minion's
    own Python (from the site's Python mirror, never the public index). Both report a change only when
    something was actually synced or installed.
    This SLS alone renders without map.jinja: the map asks fileshare_topology, which this step syncs. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- import_yaml tplroot ~ "/parameters/defaults.yaml" as defaults %}
{%- set mirrors = salt['pillar.get']('fileshare:mirrors', {}) %}
{%- set mirrors = mirrors if mirrors is mapping else {} %}
{%- set extensions = salt['pillar.get']('fileshare:lookup:salt_extensions', defaults.salt_extensions) %}

{%- from tplroot ~ "/libpins.jinja" import pins_present with context %}
{%- set python = grains.get('pythonexecutable', '') %}

{#- The suite ships execution and state modules only (_modules, _states; _runners are the master's):
    syncing those two kinds costs a node ~0.2 s, sync_all's 19 kinds and pillar refresh ~1.1 s. #}
the suite's modules are synced from the master:
  saltutil.sync_modules:
    - refresh: True

{#- reload_modules: the check of the extensions below is the suite's own state (fileshare_cmd), which a
    bare node has only once this sync has run; the reload makes it callable in this same run. #}
the suite's states are synced from the master:
  saltutil.sync_states:
    - refresh: True
    - reload_modules: True
    - require:
      - saltutil: the suite's modules are synced from the master

{%- if mirrors.get('python') %}

a Salt extension the suite needs is missing or at another version:
  fileshare_cmd.run:
    - name: echo {{ extensions | join(' ') | quote }}
    - unless: {{ pins_present(python, extensions) | json }}
    - require:
      - saltutil: the suite's states are synced from the master

the Salt extensions the suite needs are installed in the minion's Python:
  pip.installed:
    - pkgs: {{ extensions | json }}
    - bin_env: {{ python | json }}
    - no_index: True
    - find_links: {{ mirrors.python | json }}
{%-   if mirrors.python.startswith('http://') %}
    # An internal mirror over plain HTTP: pip ignores it unless told the host is trusted.
    - trusted_host: {{ mirrors.python.split('/')[2].split(':')[0] | json }}
{%-   endif %}
    # Loads the new packages here and in the minion, for every later step.
    - reload_modules: True
    - onchanges:
      - fileshare_cmd: a Salt extension the suite needs is missing or at another version
{%- else %}

the Salt extensions need pillar fileshare:mirrors:python:
  test.fail_without_changes:
    - name: 'fileshare:mirrors:python is not set: Salt extensions install only from the site mirror'
{%- endif %}
