{#- bind9 on the load nodes: authoritative for fileshare:domain, recursion only for
    fileshare:load:dns:recursion_allowed, zone transfers only with the site's TSIG key
    (fileshare:secrets:tsig_key, key name "fileshare"). The zone's content (SOA/NS, <vip.name> -> VIP,
    one A record per node, SRV _https._tcp) is kept by the suite's bind9.zone_present state, which
    bumps the serial only on change and reloads only this zone. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- from tplroot ~ "/load/settings.jinja" import load with context %}
{%- set bind = fileshare.bind %}
{%- set dns = fileshare.load.get('dns', {}) %}
{%- set zone_file = bind.zone_dir ~ '/db.' ~ load.domain %}
{%- set nameservers = load.load_nodes | map(attribute='name') | list %}
{#- The first load node is the primary; the others are secondaries that transfer the zone from it. #}
{%- set is_primary = load.primary.name == fileshare.node.name %}
{%- set secondaries = [] %}
{%- for entry in load.load_nodes if entry.name != load.primary.name %}
{%-   do secondaries.append(entry.address) %}
{%- endfor %}

bind9 is installed:
  pkg.installed:
    - pkgs: {{ bind.pkgs | json }}

The site's TSIG key is installed for bind9:
  file.managed:
    - name: {{ bind.config_dir }}/fileshare-tsig.key
    - source: {{ files_switch(['tsig.key.jinja'], lookup='bind-tsig') }}
    - template: jinja
    - user: root
    - group: {{ bind.group }}
    - mode: '0640'
    - show_changes: False
    - require:
      - pkg: bind9 is installed

bind9's configuration is managed:
  file.managed:
    - name: {{ bind.main_config }}
    - source: {{ files_switch(['named.conf.jinja'], lookup='named-conf') }}
    - template: jinja
    - user: root
    - group: {{ bind.group }}
    - mode: '0644'
    - context:
        bind: {{ bind | json }}
        domain: {{ load.domain }}
        zone_file: {{ zone_file }}
        listen: {{ (['127.0.0.1'] + load.listen) | unique | list | json }}
        port: {{ load.ports.dns }}
        recursion_allowed: {{ dns.get('recursion_allowed', ['127.0.0.1']) | json }}
        allow_update: {{ dns.get('allow_update', False) }}
        tsig_file: {{ bind.config_dir }}/fileshare-tsig.key
        primary: {{ is_primary }}
        primaries: {{ [load.primary.address] | json }}
        secondaries: {{ secondaries | json }}
    - require:
      - file: The site's TSIG key is installed for bind9

bind9's configuration is valid:
  cmd.run:
    - name: named-checkconf {{ bind.main_config }}
    - onchanges:
      - file: bind9's configuration is managed
      - file: The site's TSIG key is installed for bind9

bind9 is running and enabled:
  service.running:
    - name: {{ bind.service }}
    - enable: True
    - reload: True
    - require:
      - cmd: bind9's configuration is valid
    - watch:
      - file: bind9's configuration is managed
      - file: The site's TSIG key is installed for bind9

{%- if is_primary %}

The {{ load.domain }} zone is served:
  bind9.zone_present:
    - name: {{ load.domain }}
    - zone_file: {{ zone_file }}
    - nameservers: {{ nameservers | json }}
    - allow_update: {{ dns.get('allow_update', False) }}
    - user: {{ bind.user }}
    - group: {{ bind.group }}
    - records:
      - {name: '{{ fileshare.topology.vip.name }}', type: A, data: '{{ fileshare.topology.vip.address }}'}
{%- for entry in fileshare.topology.nodes %}
      - {name: '{{ entry.name }}', type: A, data: '{{ entry.address }}'}
{%- endfor %}
      - {name: _https._tcp, type: SRV, data: '0 0 {{ load.ports.https }} {{ load.fqdn }}.'}
    - require:
      - service: bind9 is running and enabled
{%- else %}

{#- NOTIFY brings later changes; this catches up at once when the primary already serves a newer
    serial (skipped while the primary does not answer yet: its NOTIFY comes when it does). #}
The {{ load.domain }} zone is copied from the primary:
  fileshare_cmd.run:
    - name: |
        rndc retransfer {{ load.domain }}
        for i in $(seq 30); do
          [ "$(dig +short +norec SOA {{ load.domain }} @127.0.0.1 | cut -d' ' -f3)" = \
            "$(dig +short +norec SOA {{ load.domain }} @{{ load.primary.address }} | cut -d' ' -f3)" ] && exit 0
          sleep 1
        done
        echo "the secondary did not reach the primary's serial in 30 s" >&2
        exit 1
    - unless: |
        primary=$(dig +short +norec +time=2 +tries=1 SOA {{ load.domain }} @{{ load.primary.address }} | cut -d' ' -f3)
        [ -z "$primary" ] || [ "$primary" = "$(dig +short +norec SOA {{ load.domain }} @127.0.0.1 | cut -d' ' -f3)" ]
    - require:
      - service: bind9 is running and enabled
{%- endif %}
