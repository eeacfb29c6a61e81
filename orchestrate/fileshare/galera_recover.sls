{#- Runbook: bring the database cluster back after an outage (every db node down, or the Primary
    component lost: power cut, all members killed, a partition that left no majority).
      salt-run state.orchestrate fileshare.galera_recover

    validate pillar -> is the cluster whole? (every db node Primary, Synced, the pillar's size, one
    state UUID: then nothing below runs and nothing changes) -> recover: every db node must answer Salt
    and give its position (running server, grastate.dat, or mysqld --wsrep-recover); if a Primary
    component survives somewhere the stopped members are only started and join it; otherwise the
    non-Primary members are stopped, only the most advanced member is marked safe_to_bootstrap and
    bootstrapped, the others start one at a time, each until Synced -> gate: quorate with every
    member Synced.
    Refusals stop the run with the reason and touch nothing: a db node that does not answer (it may
    hold the most advanced position), state UUIDs that differ (two clusters: decide by hand), a
    position that cannot be read. Two nodes are never bootstrapped: the runner bootstraps one, and
    galera.bootstrap on that node refuses while any peer reports a Primary component.
    The runner is the suite's _runners/galera.py (`salt-run saltutil.sync_runners` once). -#}
{%- from "fileshare/steps.jinja" import targets, validated, step, galera_recovered with context %}
{%- set db_nodes = targets('db') %}

{{ validated() }}

{{ galera_recovered('the database cluster is recovered from its most advanced member', db_nodes) }}

# Gate: the recovery is done only when every member says the cluster is whole.
{{ step('the database cluster is quorate with every member synced', db_nodes, 'fileshare.db.quorate',
        'the database cluster is recovered from its most advanced member') }}
