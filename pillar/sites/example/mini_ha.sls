{%- from "sites/example/network.jinja" import net with context %}
fileshare:
  architecture: mini_ha
  network:
    subnet: {{ net }}.0/24
  vip:
    address: {{ net }}.100
    name: files
  nodes:
{%- for i in range(1, 4) %}
    - name: node{{ i }}
      address: {{ net }}.{{ 20 + i }}
      roles: [load, app, db, intermediate, storage, infra]
{%- endfor %}
