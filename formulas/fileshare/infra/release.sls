{#- The site's release on every node (fileshare:release): its name recorded in /etc/fileshare/release,
    and the exact package versions it pins (apt holds them; an installed package moves to its
    version, and the package's own maintainer scripts restart its service). The layers' release
    states (<layer>/release.sls) restart what they run when a state here changes. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set release = fileshare.get('release', {}) %}
{%- set release = release if release is mapping else {} %}
{%- set name = release.get('name', '') | string %}
{%- set packages = release.get('packages', {}) %}
{%- set packages = packages if packages is mapping else {} %}
{%- set marker = '/etc/fileshare/release' %}
{%- set pins = fileshare.apt.get('preferences_dir', '/etc/apt/preferences.d') ~ '/fileshare-release' %}

This node records the site's release:
  file.managed:
    - name: {{ marker }}
    - makedirs: True
    - mode: '0644'
    - contents: |
        name={{ name }}
{%- for package, version in packages | dictsort %}
        {{ package }}={{ version }}
{%- endfor %}

{%- if packages %}

{#- Priority above 1000: apt installs exactly this version, up or down, and never moves off it by itself. #}
APT holds the release's package versions:
  file.managed:
    - name: {{ pins }}
    - mode: '0644'
    - contents: |
        # Managed by Salt (fileshare.release): the versions of release {{ name }}.
{%-   for package, version in packages | dictsort %}

        Package: {{ package }}
        Pin: version {{ version }}
        Pin-Priority: 1001
{%-   endfor %}
{%-   for package, version in packages | dictsort %}

{#- Only where the package is installed: the release pins versions, each layer decides what it needs. #}
{{ package }} runs version {{ version }} of the release:
  pkg.installed:
    - name: {{ package }}
    - version: {{ version | json }}
    - refresh: True
    - onlyif: dpkg-query -W -f='${Status}' {{ package }} 2>/dev/null | grep -q 'ok installed'
    - require:
      - file: APT holds the release's package versions
    - require_in:
      - file: This node records the site's release
{%-   endfor %}
{%- else %}

APT holds no release pins:
  file.absent:
    - name: {{ pins }}
{%- endif %}
