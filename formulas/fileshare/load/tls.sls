{#- The TLS front's certificate and key: from pillar fileshare:load:tls:cert/key when the site has its
    own PKI; otherwise a lab CA and a server certificate made on the node with Salt's x509 (v2)
    modules, valid for <vip.name>.<domain> and the load nodes' names and addresses. Clients trust
    <pki:dir>/lab-ca.crt. Renewal only inside days_remaining, so a second run changes nothing. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- from tplroot ~ "/load/settings.jinja" import load with context %}

The PKI directory exists:
  file.directory:
    - name: {{ fileshare.pki.dir }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True
{%- if load.own_cert %}

The site's TLS certificate is installed:
  file.managed:
    - name: {{ load.cert }}
    - source: {{ files_switch(['pillar-pem.jinja'], lookup='tls-cert') }}
    - template: jinja
    - context:
        key: fileshare:load:tls:cert
    - mode: '0644'
    - require:
      - file: The PKI directory exists

The site's TLS private key is installed:
  file.managed:
    - name: {{ load.key }}
    # Rendered from a template: Salt 3008 masks pillar values read outside rendering.
    - source: {{ files_switch(['pillar-pem.jinja'], lookup='tls-key') }}
    - template: jinja
    - context:
        key: fileshare:load:tls:key
    - mode: '0600'
    - show_changes: False
    - require:
      - file: The PKI directory exists
{%- else %}

{%- if not fileshare.single_host %}

{#- HA: every load node holds the same lab CA key, derived from a site secret (fileshare_pki module),
    so a client trusting any load node's lab-ca.crt accepts whichever node holds the VIP. #}
The lab CA's private key is the site's:
  file.managed:
    - name: {{ load.ca_key }}
    - source: {{ files_switch(['lab-ca-key.pem.jinja'], lookup='lab-ca-key') }}
    - template: jinja
    - user: root
    - group: root
    - mode: '0600'
    - show_changes: False
    - require:
      - file: The PKI directory exists
{%- endif %}

{#- retry on every x509 state: Salt 3008's x509_v2 writes its file through state.single, which opens a
    channel to the master; that channel's event loop setup can race another thread's in the same job
    (tornado: "dictionary keys changed during iteration", seen in a lab converge). A second try
    passes. #}
The lab CA's private key exists:
  x509.private_key_managed:
    - retry: {attempts: 3, interval: 2}
    - name: {{ load.ca_key }}
    - algo: ec
    - keysize: 384
    - mode: '0600'
    - new: False
    - require:
      - file: The PKI directory exists
{%- if not fileshare.single_host %}
      - file: The lab CA's private key is the site's
{%- endif %}

The lab CA certificate is issued:
  x509.certificate_managed:
    - retry: {attempts: 3, interval: 2}
    - name: {{ load.ca_cert }}
    - signing_private_key: {{ load.ca_key }}
    - CN: {{ fileshare.site }} lab CA
    - O: {{ fileshare.site }}
    - basicConstraints: critical, CA:true
    - keyUsage: critical, cRLSign, keyCertSign
    - subjectKeyIdentifier: hash
    - days_valid: 3650
    - days_remaining: 90
    - mode: '0644'
    - require:
      - x509: The lab CA's private key exists

The TLS front's private key exists:
  x509.private_key_managed:
    - retry: {attempts: 3, interval: 2}
    - name: {{ load.key }}
    - algo: ec
    - keysize: 256
    - mode: '0600'
    - new: False
    - require:
      - file: The PKI directory exists

The TLS front's certificate is issued by the lab CA:
  x509.certificate_managed:
    - retry: {attempts: 3, interval: 2}
    - name: {{ load.cert }}
    - signing_private_key: {{ load.ca_key }}
    - signing_cert: {{ load.ca_cert }}
    - private_key: {{ load.key }}
    - CN: {{ load.fqdn }}
    - O: {{ fileshare.site }}
    - basicConstraints: critical, CA:false
    - keyUsage: critical, digitalSignature, keyEncipherment
    - extendedKeyUsage: serverAuth
    - subjectKeyIdentifier: hash
    - authorityKeyIdentifier: keyid:always
    - subjectAltName: {{ (load.san_names | map('regex_replace', '^', 'DNS:') | list
                          + load.san_addresses | map('regex_replace', '^', 'IP:') | list) | join(', ') }}
    - days_valid: 397
    - days_remaining: 30
    - mode: '0644'
    - require:
      - x509: The lab CA certificate is issued
      - x509: The TLS front's private key exists
{%- endif %}
