{#- Package sources: only the site's internal mirrors (pillar fileshare:mirrors), never the vendor's. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- set mirrors = fileshare.mirrors if fileshare.mirrors is mapping else {} %}

{%- if fileshare.pkg_manager == 'apt' %}
{%-   set apt = fileshare.apt %}

# Salt's apt calls cannot take "-o": a config snippet makes apt wait for the dpkg lock (another
# apt run, unattended-upgrades) instead of failing the state.
apt waits for the dpkg lock instead of failing:
  file.managed:
    - name: {{ apt.conf_dir }}/80fileshare
    - source: {{ files_switch(['apt.conf.jinja'], lookup='apt-conf') }}
    - template: jinja
    - mode: '0644'
    - context:
        lock_timeout: {{ apt.lock_timeout }}

{%-   if mirrors.get('apt') %}

apt sources are the site's mirrors only:
  file.managed:
    - name: {{ apt.sources_list }}
    - source: {{ files_switch(['sources.list.jinja'], lookup='apt-sources') }}
    - template: jinja
    - mode: '0644'
    - context:
        mirror: {{ mirrors.apt | json }}
        security_mirror: {{ mirrors.get('apt_security', '') | json }}
        codename: {{ grains.get('oscodename', '') | json }}
        suites: {{ apt.suites | json }}
        security_suite: {{ apt.security_suite | json }}
        components: {{ apt.components | json }}

{%-     for path in apt.get('vendor_sources', []) %}

vendor apt source {{ path }} is absent:
  file.absent:
    - name: {{ path }}
    - require_in:
      - module: apt package lists are refreshed from the mirrors
{%-     endfor %}

apt package lists are refreshed from the mirrors:
  module.run:
    - pkg.refresh_db: []
    - onchanges:
      - file: apt sources are the site's mirrors only
{%-   else %}

apt sources need pillar fileshare:mirrors:apt:
  test.fail_without_changes:
    - name: 'fileshare:mirrors:apt is not set: air-gapped nodes install only from the site mirror'
{%-   endif %}

{%- elif fileshare.pkg_manager == 'dnf' %}
{%-   set dnf = fileshare.dnf %}
{%-   if mirrors.get('rpm') %}

dnf repositories are the site's mirrors only:
  file.managed:
    - name: {{ dnf.repo_file }}
    - source: {{ files_switch(['fileshare.repo.jinja'], lookup='dnf-repo') }}
    - template: jinja
    - mode: '0644'
    - context:
        mirror: {{ mirrors.rpm | json }}
        release_path: {{ dnf.release_path | json }}
        repos: {{ dnf.repos | json }}
{%-   else %}

dnf repositories need pillar fileshare:mirrors:rpm:
  test.fail_without_changes:
    - name: 'fileshare:mirrors:rpm is not set: air-gapped nodes install only from the site mirror'
{%-   endif %}

{%- elif fileshare.pkg_manager == 'pacman' %}
{%-   if mirrors.get('pacman') %}

pacman mirrorlist is the site's mirror only:
  file.managed:
    - name: {{ fileshare.pacman.mirrorlist }}
    - contents: 'Server = {{ mirrors.pacman.rstrip('/') }}/$repo/os/$arch'
    - mode: '0644'
{%-   else %}

pacman mirrorlist needs pillar fileshare:mirrors:pacman:
  test.fail_without_changes:
    - name: 'fileshare:mirrors:pacman is not set: air-gapped nodes install only from the site mirror'
{%-   endif %}
{%- endif %}
