"""Both CLIs end quietly when their reader goes away (`fileshare-lab status | head -1`): no
BrokenPipeError traceback, the exit status of a command killed by SIGPIPE."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fileshare_bench import cli as bench_cli

SIGPIPE_STATUS = 128 + signal.SIGPIPE


def closed_pipe():
    """The writing end of a pipe whose reading end is already closed: its first write fails."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


@pytest.mark.skipif(os.geteuid() != 0, reason="fileshare-lab status needs root")
def test_lab_status_into_a_closed_pipe_ends_quietly(tmp_path):
    write_end = closed_pipe()
    try:
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "fileshare-lab"), "--lab", "pipetest", "status"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=120,
            env={**os.environ, "FILESHARE_LAB_HOME": str(tmp_path)},
        )
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (SIGPIPE_STATUS, "")


def test_bench_output_into_a_closed_pipe_ends_quietly(monkeypatch, capfd):
    def print_a_report(args):
        print("a report line\n" * 1000, flush=True)
        return 0

    monkeypatch.setitem(bench_cli._COMMANDS, "report-test", ("prints", lambda parser: None, print_a_report))
    pipe = os.fdopen(closed_pipe(), "w")
    monkeypatch.setattr(sys, "stdout", pipe)
    try:
        assert bench_cli.main(["report-test"]) == SIGPIPE_STATUS
    finally:
        monkeypatch.undo()
        pipe.close()
    assert "Traceback" not in capfd.readouterr().err
