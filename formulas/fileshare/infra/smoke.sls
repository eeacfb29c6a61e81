{#- End-to-end smoke check, run last by the orchestrations on each load node: through HTTPS at the
    service's name (pinned to the VIP, no DNS needed), the health endpoint answers 200 and a file
    makes a WebDAV PUT / GET / DELETE round trip. It leaves nothing behind and reports no change; the
    WebDAV password is read inside the script from pillar, never put on a command line or in output. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- set tls = fileshare.get('load', {}).get('tls', {}) %}
{%- set ca = fileshare.get('pki', {}).get('dir', '') ~ '/lab-ca.crt' if tls.get('lab_ca') else '' %}
{#- Where each product serves WebDAV. #}
{%- set dav_paths = {'webdav': '/', 'owncloud': '/remote.php/webdav/', 'seafile': '/seafdav/'} %}

the file share answers over HTTPS (health 200, WebDAV round trip):
  cmd.script:
    - source: {{ files_switch(['smoke-check.sh.jinja'], lookup='smoke-check') }}
    - template: jinja
    - shell: /bin/bash
    - stateful: True
    - context:
        fqdn: {{ (fileshare.get('vip', {}).get('name', '') ~ '.' ~ fileshare.get('domain', '')) | json }}
        vip: {{ fileshare.get('vip', {}).get('address', '') | json }}
        ca: {{ ca | json }}
        dav_path: {{ dav_paths.get(fileshare.product, '/') | json }}
