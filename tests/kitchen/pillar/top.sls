# Kitchen's pillar: the one all_in_one node of the kitchen site (kitchen.yml copies this folder to the
# container's pillar root).
base:
  '*':
    - kitchen
