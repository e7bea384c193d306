"""The search on a real two-node Ray cluster on 127.0.0.1 (`ray start --head` plus one `ray start
--address`, 1 CPU each), driven as users drive it, by `run_hyper.py --tool=ray --address=...`:
its trials land on both nodes, and a driver killed with SIGKILL resumes with the same command,
running only the unfinished trials."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from helpers import write_pattern_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_ports() -> list:
    """The ports a node's agents listen on: free ones, so that two nodes share the machine."""
    return [f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
            f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}"]


def ray_start(*args) -> None:
    subprocess.run([RAY, "start", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats",
                    f"--object-store-memory={80 * 1024 * 1024}", *node_ports(), *args],
                   env=ENV, check=True, capture_output=True, timeout=180)


@pytest.fixture(scope="module")
def cluster():
    """The address of a head node and one more node, each with 1 CPU; `ray stop` at the end."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    port = free_port()
    try:
        ray_start("--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}")
        ray_start(f"--address=127.0.0.1:{port}")
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], env=ENV, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def node_ids(address: str) -> set:
    code = ("import ray; ray.init(address=%r, logging_level='ERROR'); "
            "print(' '.join(n['NodeID'] for n in ray.nodes() if n['Alive']))" % address)
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120)
    return set(done.stdout.split())


def command(tmp_path: Path, address: str, log_dir: str, epochs: int = 2) -> list:
    params = tmp_path / "h.test"
    params.write_text("learning_rate choice [0.01, 0.005, 0.001]\nnum_layers choice [1, 2]\n")
    return [sys.executable, "run_hyper.py", "--tool=ray", f"--address={address}", "--dataset=toy",
            f"--data_path={tmp_path}", f"--log_dir={log_dir}", f"--params_file={params}",
            f"--output_file={tmp_path / 'out.jsonl'}", f"--epochs={epochs}", "--train_batch_size=64",
            "--embedding_size=16", "--hidden_size=16", "--MAX_ITEM_LIST_LENGTH=5", "--show_progress=False"]


def rows(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_trials_land_on_both_nodes(cluster, tmp_path):
    write_pattern_dataset(tmp_path)
    done = subprocess.run(command(tmp_path, cluster, str(tmp_path / "log")), cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    table = rows(tmp_path / "out.jsonl")
    assert [r["trial"] for r in table] == list(range(6)) and {r["status"] for r in table} == {"ok"}
    nodes = node_ids(cluster)
    assert len(nodes) == 2 and {r["node"] for r in table} == nodes


def test_killed_driver_resumes_running_only_the_unfinished_trials(cluster, tmp_path):
    write_pattern_dataset(tmp_path)
    results = tmp_path / "out.jsonl"
    driver = subprocess.Popen(command(tmp_path, cluster, str(tmp_path / "log1"), epochs=4), cwd=ROOT, env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while len(rows(results)) < 2 and driver.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        os.kill(driver.pid, signal.SIGKILL)  # mid-search: at least one more trial is running or pending
    finally:
        driver.wait(timeout=60)
    first = rows(results)
    assert driver.returncode == -signal.SIGKILL and 2 <= len(first) < 6
    done = subprocess.run(command(tmp_path, cluster, str(tmp_path / "log2"), epochs=4), cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    final = rows(results)
    assert [r["trial"] for r in final] == list(range(6))  # each trial exactly once
    assert [r for r in final if r["trial"] in {f["trial"] for f in first}] == first  # kept as they were
    ran_again = list((tmp_path / "log2").rglob("*.log"))
    assert len(ran_again) == 6 - len(first)  # the second run trained only the unfinished trials
