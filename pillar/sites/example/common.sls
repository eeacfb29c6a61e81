{%- from "sites/example/network.jinja" import net with context %}
{#- Everything about the example site that does not depend on the architecture.
    Secrets are in clear text here because this is a lab; a real site keeps them in
    pillar encrypted with Salt's gpg renderer (see "Secrets" in README.md). #}
fileshare:
  # Short site name: used in host names, certificate subjects and report paths.
  site: example
  # DNS domain served authoritatively by the site's bind9 (users reach <vip.name>.<domain>).
  domain: example.lab
  # The file-sharing product the app layer serves: webdav (owncloud and seafile are not built yet).
  product: webdav

  # Internal mirrors: no state downloads from the internet. In the lab the host is the mirror.
  mirrors:
    # Debian archive and security archive (apt-cacher-ng in the lab).
    apt: http://{{ net }}.1:3142/debian
    apt_security: http://{{ net }}.1:3142/debian-security
    # Python wheels (pip --find-links, no index): the Salt extensions and WsgiDAV. Required.
    python: http://{{ net }}.1:3143/wheels/

  load:
    tls:
      # Either give cert and key (PEM, in pillar/secrets) or let the suite make a lab CA with Salt's x509.
      lab_ca: true
    # Per-client request rate limit at the TLS front (nginx limit_req / HAProxy stick table).
    rate_limit:
      requests_per_second: 50
      burst: 100
    dns:
      # Hosts allowed to ask the site's bind9 recursive questions (nobody else: recursion is refused).
      recursion_allowed: [127.0.0.1]
    # HA architectures: HAProxy ACLs. Requests for admin_paths are refused (403) unless they come from
    # admin_sources; allowed_sources (optional) limits who reaches the site at all.
    acl:
      admin_paths: [/server-status, /server-info]
      admin_sources: [127.0.0.1, {{ net }}.0/24]
    # HA architectures: keepalived VRRP. priorities (node name -> 1..254) default to the first load node
    # highest; virtual_router_id must be unique on the segment.
    keepalived:
      # Seconds between VRRP adverts; below 1 = VRRPv3 without VRRP authentication (docs/faults.md).
      # The BACKUP takes the VIP after about 3.5 adverts without one: ~0.9 s here.
      advert_int: 0.25
      virtual_router_id: 51
      # Seconds a recovered higher-priority node waits (healthy) before it takes the VIP back.
      preempt_delay: 15

  # nftables on every node (on by default on mini_ha/full_ha): each role admits only its peers.
  firewall:
    # Who may ssh to the nodes (the lab host; nobody when empty).
    admin_sources: [{{ net }}.1/32]

  app:
    # apache: webdav needs it (mod_dav, or WsgiDAV behind it); nginx is for the PHP products to come.
    server: apache
    # Where user files live (on HA sites, the shared storage mount).
    data_dir: /srv/fileshare/data
    php:
      memory_limit: 512M
      upload_max_filesize: 2G
    # WebDAV users (passwords in secrets.webdav_users).
    webdav:
      realm: fileshare

  db:
    # mariadb (Galera on HA architectures); postgresql is not built yet.
    engine: mariadb
    name: fileshare
    user: fileshare

  intermediate:
    memcached:
      memory_mb: 64

  storage:
    # all_in_one: a local directory; HA: a GlusterFS replica-3 volume of this name.
    volume: fileshare

  infra:
    journald:
      system_max_use: 200M
      max_retention: 14day
    logrotate:
      rotate: 14
      frequency: daily

  # Secrets: never printed in state output, never in world-readable files.
  secrets:
    db_root_password: lab-root-pw-change-me
    db_password: lab-db-pw-change-me
    redis_password: lab-redis-pw-change-me
    # TSIG key (base64, HMAC-SHA256) for zone transfers and dynamic DNS updates.
    tsig_key: c2l0ZS1leGFtcGxlLXRzaWctc2VjcmV0LWxhYi1vbmx5IQ==
    # VRRP password between the load nodes (HA; keepalived uses the first 8 characters).
    vrrp_password: lab-vrrp
    # The restic repository's password (docs/backup.md): without it no backup can be read.
    backup_password: lab-backup-pw-change-me
    webdav_users:
      alice: lab-alice-pw
      bob: lab-bob-pw
