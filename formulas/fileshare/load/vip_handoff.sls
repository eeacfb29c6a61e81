{#- VIP handoff on the load nodes of HA architectures: when keepalived moves the VIP, the TCP sessions
    opened on the old holder go on there (its HAProxy still holds them: binds are `transparent`); the new
    holder passes their packets to it (nftables `dup`, VIP kept as destination) and a policy route
    delivers them locally. Without it a planned move cut every request in flight (measured: a PROPFIND
    answer cut at the failback of a rolling upgrade and of fault scenario 1). keepalived's notify
    scripts keep the peer list current (a dead peer gets nothing: the firewall resets instead). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- from tplroot ~ "/load/settings.jinja" import load with context %}
{%- set handoff = fileshare.vip_handoff %}
{%- set context = {
      'handoff': handoff,
      'vip': load.vip,
      'ports': [load.ports.http, load.ports.https, load.ports.db_front, load.ports.redis_front],
      'peers': load.load_nodes | rejectattr('name', 'equalto', load.node) | map(attribute='address') | list,
      'address': load.address,
      'peer_port': load.ports.haproxy_peer,
    } %}

the VIP handoff's tools are installed:
  pkg.installed:
    # curl: the new VIP holder asks which peers' HAProxy answers before handing sessions to them.
    - pkgs: {{ handoff.pkgs | json }}

the VIP handoff's nftables rules are written:
  file.managed:
    - name: {{ handoff.rules }}
    - source: {{ files_switch(['vip-handoff.nft.jinja'], lookup='vip-handoff-nft') }}
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: True
    - context: {{ context | json }}

the VIP handoff command is installed:
  file.managed:
    - name: {{ handoff.script }}
    - source: {{ files_switch(['fileshare-vip-handoff.sh.jinja'], lookup='vip-handoff-script') }}
    - template: jinja
    - user: root
    - group: root
    # keepalived runs it (enable_script_security: writable by root only).
    - mode: '0755'
    - context: {{ context | json }}

the VIP handoff unit is installed:
  file.managed:
    - name: /etc/systemd/system/{{ handoff.service }}.service
    - source: {{ files_switch(['fileshare-vip-handoff.service.jinja'], lookup='vip-handoff-unit') }}
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - context: {{ context | json }}

the VIP handoff is active and enabled:
  service.running:
    - name: {{ handoff.service }}
    - enable: True
    - require:
      - pkg: the VIP handoff's tools are installed
    - watch:
      - file: the VIP handoff's nftables rules are written
      - file: the VIP handoff command is installed
      - file: the VIP handoff unit is installed
