{#- End-to-end smoke check, run last by the orchestrations on each TLS front node: through HTTPS at the
    service's name (pinned to the VIP, no DNS needed) the health endpoint answers 200 and a file makes a
    WebDAV PUT / GET / DELETE round trip. The check is installed as a command operators can run any
    time; its WebDAV credentials sit in a root-only netrc, never on a command line or in state output.
    The check itself leaves nothing behind and reports no change (cmd stateful protocol). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- set smoke = fileshare.smoke_check %}
{%- set tls = fileshare.get('load', {}).get('tls', {}) %}
{%- set ca = fileshare.get('pki', {}).get('dir', '') ~ '/lab-ca.crt' if tls.get('lab_ca') else '' %}
{%- set fqdn = fileshare.topology.vip.fqdn %}
{#- Where each product serves WebDAV. #}
{%- set dav_paths = {'webdav': '/', 'owncloud': '/remote.php/webdav/', 'seafile': '/seafdav/'} %}

the smoke check's WebDAV credentials are readable by root only:
  file.managed:
    - name: {{ smoke.netrc }}
    - source: {{ files_switch(['smoke-check.netrc.jinja'], lookup='smoke-check-netrc') }}
    - template: jinja
    - user: root
    - group: root
    - mode: '0600'
    - makedirs: True
    - show_changes: False
    - context:
        fqdn: {{ fqdn | json }}

the smoke check command is installed:
  file.managed:
    - name: {{ smoke.script }}
    - source: {{ files_switch(['smoke-check.sh.jinja'], lookup='smoke-check') }}
    - template: jinja
    - user: root
    - group: root
    - mode: '0750'
    - context:
        fqdn: {{ fqdn | json }}
        port: {{ fileshare.topology.ports.https }}
        vip: {{ fileshare.topology.vip.address | json }}
        ca: {{ ca | json }}
        dav_path: {{ dav_paths.get(fileshare.product, '/') | json }}
        netrc: {{ smoke.netrc | json }}

the file share answers over HTTPS (health 200, WebDAV round trip):
  cmd.run:
    - name: {{ smoke.script }}
    - stateful: True
    - require:
      - file: the smoke check's WebDAV credentials are readable by root only
      - file: the smoke check command is installed
