{#- The replicated volume, run on the FIRST storage node only (the orchestration targets it): peer the
    other storage nodes, create the replica-3 volume over one brick per storage node, start it and set
    its options. Every step checks the cluster first, so a second run changes nothing and a run after
    a storage node was rebuilt probes it back in (Gluster heals its brick by itself).
    Bricks are plain directories on the node's root filesystem, hence `force` on create. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set sls_server = tplroot ~ '.storage.glusterfs' %}
{%- set volume = fileshare.topology.names.volume %}
{%- set storage_nodes = fileshare.topology.addresses.storage %}
{%- set peers = storage_nodes | reject('equalto', fileshare.topology.node.address) | list %}
{%- set bricks = [] %}
{%- for address in storage_nodes %}
{%-   do bricks.append(address ~ ':' ~ fileshare.glusterfs.brick_dir ~ '/' ~ volume) %}
{%- endfor %}
{%- set gluster = 'gluster --mode=script' %}

include:
  - {{ sls_server }}

{%- for peer in peers %}

storage node {{ peer }} is a peer of the trusted pool:
  fileshare_cmd.run:
    - name: {{ gluster }} peer probe {{ peer }}
    - unless: {{ gluster }} pool list | awk '{print $2}' | grep -qxF {{ peer }}
    - require:
      - sls: {{ sls_server }}
{%- endfor %}

# A freshly probed peer takes a moment to reach "Connected"; creating the volume before that fails.
every storage node is connected to the pool:
  fileshare_cmd.run:
    - name: >-
        for i in $(seq 60); do
        [ "$({{ gluster }} pool list | grep -c Connected)" -ge {{ storage_nodes | length }} ] && exit 0;
        sleep 1; done; {{ gluster }} pool list; exit 1
    - unless: '[ "$({{ gluster }} pool list | grep -c Connected)" -ge {{ storage_nodes | length }} ]'
    - require:
{%- for peer in peers %}
      - fileshare_cmd: storage node {{ peer }} is a peer of the trusted pool
{%- else %}
      - sls: {{ sls_server }}
{%- endfor %}

{#- "Connected" above is this node's view only: the other peers may not have connected to each other yet,
    and then the create fails its staging on one of them ("Host ... not connected", seen in the lab when
    the storage branch ran beside the others). Such a failure creates nothing: try again for a while. #}
volume {{ volume }} exists with one replica per storage node:
  fileshare_cmd.run:
    - name: >-
        for i in $(seq 30); do
        {{ gluster }} volume create {{ volume }} replica {{ bricks | length }} {{ bricks | join(' ') }} force
        && exit 0; {{ gluster }} volume info {{ volume }} >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1
    - unless: {{ gluster }} volume info {{ volume }}
    - require:
      - fileshare_cmd: every storage node is connected to the pool

volume {{ volume }} is started:
  fileshare_cmd.run:
    - name: {{ gluster }} volume start {{ volume }}
    - unless: >-
        {{ gluster }} volume info {{ volume }} | grep -qx 'Status: Started'
    - require:
      - fileshare_cmd: volume {{ volume }} exists with one replica per storage node

{%- for option, value in fileshare.storage.get('options', {}) | dictsort %}

volume {{ volume }} has {{ option }} = {{ value }}:
  fileshare_cmd.run:
    - name: {{ gluster }} volume set {{ volume }} {{ option }} {{ value | string | quote }}
    - unless: >-
        {{ gluster }} volume get {{ volume }} {{ option }}
        | awk -v k={{ option | quote }} '$1 == k {print $2}' | grep -qxF {{ value | string | quote }}
    - require:
      - fileshare_cmd: volume {{ volume }} is started
{%- endfor %}
