"""`make lab` serves the repository with notebooks/ as the landing page, so what a notebook links
from results/ resolves (its figures are embedded outputs besides: tests/test_committed_notebooks.py)."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
from helpers import REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_lands_in_notebooks_and_serves_the_committed_figures():
    port, token = _free_port(), "kd-lab-test"
    args = f"--no-browser --port {port} --ip 127.0.0.1 --IdentityProvider.token={token} --allow-root"
    server = subprocess.Popen(["make", "-s", "lab", f"ARGS={args}"], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                page = urllib.request.urlopen(f"{base}/lab?token={token}", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("make lab did not answer within a minute")
        config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page,
                                      re.S).group(1))
        assert config["preferredPath"] == "notebooks"
        figure = next((REPO / "results" / "figures").glob("*.png")).name
        answer = urllib.request.urlopen(f"{base}/files/results/figures/{figure}?token={token}",
                                        timeout=10)
        assert answer.status == 200 and answer.headers["Content-Type"] == "image/png"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
