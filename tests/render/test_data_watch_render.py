"""The data watch HAProxy's app node check reads (formulas/fileshare/app/health.sls, docs/faults.md): the
script as rendered for full_ha, run for real here against a temporary data directory, and the check's
configuration beside it."""

import json
import os
import subprocess
import time

import pytest


@pytest.fixture(scope="module")
def placed(renderer):
    high = renderer.show_sls("debian-12", "full_ha", "app1", "fileshare.app.health")
    assert isinstance(high, dict), high
    return renderer.placed("debian-12", high), high


def watch_until(runtime, wanted, seconds=10.0):
    """The watch's last line once WANTED(ok, fails) holds, or the last line read."""
    deadline, line = time.monotonic() + seconds, ""
    while time.monotonic() < deadline:
        try:
            line = (runtime / "last").read_text().strip()
        except FileNotFoundError:
            line = ""
        if line:
            ok, fails = line.split()
            if wanted(float(ok), int(fails)):
                return line
        time.sleep(0.1)
    raise AssertionError(f"the data watch never wrote what was wanted; last: {line!r}")


def test_the_watch_records_the_last_write_that_went_through_and_counts_failures(placed, tmp_path):
    files, _ = placed
    script = files["The data watch is installed"]
    data = tmp_path / "srv" / "fileshare" / "data"
    runtime = tmp_path / "run"
    data.mkdir(parents=True)
    runtime.mkdir()
    # The rendered script names the site's data directory; here it writes into a temporary one.
    assert "/srv/fileshare/data/.fileshare-watch-app1" in script
    path = tmp_path / "watch.sh"
    path.write_text(script.replace("/srv/fileshare/data", str(data)))
    env = dict(os.environ, RUNTIME_DIRECTORY=str(runtime))
    proc = subprocess.Popen(["sh", str(path)], env=env)
    try:
        started = time.time()
        watch_until(runtime, lambda ok, fails: ok >= started and fails == 0)
        # No probe is left behind for users to see.
        assert list(data.iterdir()) == []
        # A data directory that refuses writes: failures are counted, the last good time stays.
        data.chmod(0o500)
        if os.geteuid() == 0:
            data.rmdir()  # root writes through a read-only mode; a missing directory refuses it too
        line = watch_until(runtime, lambda ok, fails: fails >= 3)
        assert float(line.split()[0]) >= started
    finally:
        proc.kill()
        proc.wait()


def test_the_node_check_reads_the_watch_with_the_sites_grace(renderer, placed):
    files, high = placed
    config = files["The health endpoint's configuration is managed"]
    assert "'data_watch' => ['file' => '/run/fileshare-data-watch/last', 'grace' => 5.0]" in config
    unit = json.loads(files["The data watch's unit is installed"])["contents"]
    assert "User=www-data" in unit and "RuntimeDirectory=fileshare-data-watch" in unit
    assert "Restart=always" in unit
    high = renderer.show_sls(
        "debian-12",
        "full_ha",
        "app1",
        "fileshare.app.health",
        override={"app": {"health": {"data_grace": 8}}},
    )
    assert (
        "'grace' => 8.0]"
        in renderer.placed("debian-12", high)["The health endpoint's configuration is managed"]
    )


def test_the_node_check_no_longer_writes_itself(placed):
    files, _ = placed
    php = files["The health endpoint script is installed"]
    node_branch = php[php.index("if ($node_only) {") : php.index("} else {")]
    assert "file_put_contents" not in node_branch and "data_watch" in node_branch
