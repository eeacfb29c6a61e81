"""The diagram runner's pure parts (_runners/fileshare.py): the output format and the one site."""

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError
from suite_modules import load

runner = load("_runners/fileshare.py", "fileshare_runner")


@pytest.mark.parametrize("out, fmt", [("/srv/site.svg", "svg"), ("site.PNG", "png"), ("a.b/site.dot", "dot")])
def test_the_format_comes_from_the_file_name(out, fmt):
    assert runner._format(out) == fmt


@pytest.mark.parametrize("out", ["site", "site.jpeg", "/srv/svg"])
def test_an_unknown_format_is_refused_naming_out(out):
    with pytest.raises(SaltInvocationError, match=f"out={out}: the file name ends in one of .svg"):
        runner._format(out)


def test_nodes_of_one_site_agree_on_one_diagram():
    assert runner.one_site({"lb1": "digraph a {}", "db1": "digraph a {}", "st1": False}) == "digraph a {}"


def test_nodes_of_two_sites_are_refused():
    with pytest.raises(CommandExecutionError, match="2 different sites: name one node of the site with tgt="):
        runner.one_site({"lb1": "digraph a {}", "x1": "digraph b {}"})


def test_no_answer_is_refused():
    with pytest.raises(CommandExecutionError, match="no node answered"):
        runner.one_site({"lb1": "'fileshare_topology.diagram' is not available."})
