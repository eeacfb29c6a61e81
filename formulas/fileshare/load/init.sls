{#- Load layer: the TLS front (nginx, certificate from pillar or a lab CA made with Salt's x509
    modules), per-client rate limits, and the site's authoritative DNS (bind9). On full_ha the load
    nodes add haproxy.sls and keepalived.sls (VIP) beside these. -#}

include:
  - .tls
  - .nginx
  - .bind9
