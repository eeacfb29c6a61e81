{%- from "sites/example/network.jinja" import net with context %}
{#- The lab's scale runs give full_ha more app nodes (`fileshare-lab --app-nodes N up full_ha`). #}
{%- set apps = salt['config.get']('fileshare_example_app_nodes', 2) | int %}
fileshare:
  architecture: full_ha
  network:
    subnet: {{ net }}.0/24
  vip:
    address: {{ net }}.100
    name: files
  # Dedicated nodes per layer. Counts are checked by the schema: 2 load, >=2 app, 3 db (or 2 + arbitrator),
  # 3 intermediate, 3 storage.
  nodes:
{%- for i in range(1, 3) %}
    - {name: lb{{ i }}, address: {{ net }}.{{ 30 + i }}, roles: [load, infra]}
{%- endfor %}
{%- for i in range(1, apps + 1) %}
    - {name: app{{ i }}, address: {{ net }}.{{ 40 + i }}, roles: [app, infra]}
{%- endfor %}
{%- for i in range(1, 4) %}
    - {name: db{{ i }}, address: {{ net }}.{{ 50 + i }}, roles: [db, infra]}
{%- endfor %}
{%- for i in range(1, 4) %}
    - {name: im{{ i }}, address: {{ net }}.{{ 60 + i }}, roles: [intermediate, infra]}
{%- endfor %}
{%- for i in range(1, 4) %}
    - {name: st{{ i }}, address: {{ net }}.{{ 70 + i }}, roles: [storage, infra]}
{%- endfor %}
    # The backup repository on a node of its own (docs/backup.md): it copies a Galera member over ssh
    # and reads the volume through its own client mount.
    - {name: bk1, address: {{ net }}.80, roles: [backup, infra]}
