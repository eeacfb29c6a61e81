{#- Runbook: deploy the file share on 3 nodes that each carry every layer (mini_ha); the VIP floats
    among them.
      salt-run saltutil.sync_all
      salt-run state.orchestrate fileshare.mini_ha

    The steps are full_ha's, word for word: each step targets the nodes whose roles ask for its layer,
    so the node list in pillar is the only difference. Read full_ha.sls for the runbook. -#}
include:
  - fileshare.full_ha
