{#- The site's release on this node (fileshare:release): its name, and the exact package versions it
    pins. Each layer the node carries has its own release state, included here by the node's roles:
      - infra/release.sls (every node): the name recorded, apt pinning the release's versions, installed
        packages moved to them (the package's own maintainer scripts restart its service);
      - load/release.sls: HAProxy sends X-Fileshare-Release-Load (fileshare.load.haproxy, reload);
      - app/release.sls: the web server sends X-Fileshare-Release-App (reload), php-fpm reads
        fileshare.release (reload);
      - db/, intermediate/, storage/release.sls: MariaDB, Redis, Sentinel, Memcached and glusterd
        restart on a release change, so a node runs what its release says, not what it started with.
    Applied by fileshare.rolling_upgrade one node at a time, after the node was taken out of service
    (drained, in maint, no longer the Redis master, not holding the VIP). Applying it on every node at
    once is the naive way the benchmark compares with. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set roles = fileshare.topology.node.roles %}
include:
{%- for layer in ['infra', 'load', 'app', 'db', 'intermediate', 'storage'] if layer == 'infra' or layer in roles %}
  - {{ tplroot }}.{{ layer }}.release
{%- endfor %}
