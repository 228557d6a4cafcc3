"""Batch scoring: formats, blocks, nothing lost, resume after kill -9, Dask."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import NOT_SCAMS, SCAMS, write_jsonl

from scamdetect.cli import main
from scamdetect.outputs import InputError, score_file

ROOT = Path(__file__).resolve().parents[1]
POSTS = SCAMS + NOT_SCAMS


def read_jsonl(p):
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def posts(n):
    return [{"id": i, "account": f"@a{i % 5}", "text": f"{POSTS[i % len(POSTS)]} #{i}"} for i in range(n)]


def test_long_files_are_read_in_blocks_without_losing_or_reordering_rows(tmp_path, tiny_model_dir):
    rows = posts(40)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + ("\n\n" if i % 7 == 0 else "\n") for i, r in enumerate(rows)).rstrip("\n"))
    out = tmp_path / "out.jsonl"
    # blocks far smaller than a line: every boundary case
    s = score_file(src, out, model=tiny_model_dir, jobs=2, block_bytes=64)
    assert [r["id"] for r in read_jsonl(out)] == list(range(40))
    assert (s.read, s.scored, s.rejected) == (40, 40, 0)
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_parquet_in_and_out_keeps_types_and_rejects_bad_rows(tmp_path, tiny_model_dir):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "text": [SCAMS[0], None, "   ", NOT_SCAMS[0]],
                      "likes": pa.array([1.5, 2.0, 0.0, 3.0]), "url": ["u1", "u2", "u3", None]})
    src = tmp_path / "in.parquet"
    pq.write_table(table, src)
    out = tmp_path / "out.parquet"
    assert main(["score", str(src), "-o", str(out), "-m", str(tiny_model_dir), "-q"]) == 0
    got = pq.read_table(out)
    assert got.column("id").to_pylist() == [1, 4]
    assert got.schema.field("id").type == pa.int64() and got.schema.field("likes").type == pa.float64()
    assert got.column("label").to_pylist() == ["scam", "not_scam"]
    assert got.column("red_flags").to_pylist()[0]  # a list of rule ids
    assert json.loads(got.column("entities").to_pylist()[0])[0]["kind"]  # nested values are JSON text
    rejects = read_jsonl(tmp_path / "out.parquet.rejects.jsonl")
    assert [(r["line"], r["reason"]) for r in rejects] == [(2, "text field 'text' is null"),
                                                          (3, "empty text")]


def test_jsonl_to_csv_keeps_every_field_of_every_row(tmp_path, tiny_model_dir):
    rows = [{"id": 1, "text": SCAMS[0]}, {"id": 2, "text": SCAMS[1], "extra": {"a": 1}}]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.csv"
    score_file(src, out, model=tiny_model_dir, block_bytes=40)  # one row per block: fields seen late count
    import csv

    got = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["id"] for r in got] == ["1", "2"]
    assert got[1]["extra"] == '{"a":1}' and got[0]["extra"] == ""
    assert got[0]["red_flags"] and json.loads(got[0]["reasons"])


def test_an_interrupted_run_needs_resume_or_restart(tmp_path, tiny_model_dir):
    src = write_jsonl(tmp_path / "in.jsonl", posts(30))
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    score_file(src, out, model=tiny_model_dir, block_bytes=200)
    full = out.read_bytes()
    # fake an interruption: a run directory with some blocks done (as the kill -9 test makes for real)
    from scamdetect import load
    from scamdetect.outputs import batch
    from scamdetect.outputs.engines import score_unit
    from scamdetect.outputs.files import read_units
    from scamdetect.outputs.journal import Journal, fingerprint

    settings = {"in_format": "jsonl", "out_format": "jsonl", "text_field": "text", "block_bytes": 200,
                "block_rows": batch.BLOCK_ROWS}
    j = Journal(partial, fingerprint(src, settings, load(tiny_model_dir).manifest))
    for u in list(read_units(src, "jsonl", "text", 200, 0))[:3]:
        r = score_unit(str(tiny_model_dir), "text", False, u)
        j.save(u.index, r.out, r.rejects, r.meta())
    out.unlink()
    with pytest.raises(InputError, match="--resume"):
        score_file(src, out, model=tiny_model_dir, block_bytes=200)
    with pytest.raises(InputError, match="block_bytes changed"):
        score_file(src, out, model=tiny_model_dir, block_bytes=300, resume=True)
    s = score_file(src, out, model=tiny_model_dir, block_bytes=200, resume=True)
    assert s.resumed_blocks == 3 and s.read == 30
    assert out.read_bytes() == full and not partial.exists()


def _ids(path):
    return [r["id"] for r in read_jsonl(path)]


def test_kill_9_in_the_middle_then_resume_gives_every_row_once(tmp_path, tiny_model_dir):
    n = 3000
    src = write_jsonl(tmp_path / "in.jsonl", posts(n))
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    code = ("import sys; from scamdetect.outputs import score_file; "
            "score_file(sys.argv[1], sys.argv[2], model=sys.argv[3], jobs=2, block_bytes=4096)")
    cmd = [sys.executable, "-c", code, str(src), str(out), str(tiny_model_dir)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while len(list(partial.glob("*.done.json"))) < 5:  # some blocks saved, most still to do
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: parent and workers, no clean-up
    proc.wait()
    done_before = len(list(partial.glob("*.done.json")))
    assert not out.exists()  # no half output file
    r = subprocess.run([sys.executable, "-m", "scamdetect.cli", "score", str(src), "-o", str(out), "-m",
                        str(tiny_model_dir), "--resume"], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "block_bytes changed" in r.stderr  # the CLI default block size differs
    r = subprocess.run([sys.executable, "-c", code.replace("jobs=2", "jobs=2, resume=True"), str(src), str(out),
                        str(tiny_model_dir)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ids = _ids(out)
    assert len(ids) == n and ids == list(range(n))
    assert done_before >= 5 and not partial.exists()


def test_score_dataframe_and_dask_engine_on_a_local_cluster(tmp_path, tiny_model_dir):
    dd = pytest.importorskip("dask.dataframe")
    pytest.importorskip("distributed")
    import pandas as pd

    from scamdetect.outputs import score_dataframe

    rows = posts(24) + [{"id": 99, "account": "@x", "text": ""}]
    pdf = pd.DataFrame(rows)
    local = score_dataframe(pdf, tiny_model_dir)
    assert list(local.columns[:3]) == ["id", "account", "text"]
    assert local.loc[local.id == 99, "error"].item() == "empty text"
    assert local.loc[local.id == 0, "label"].item() == "scam"
    with pytest.raises(InputError, match="no column 'caption'"):
        score_dataframe(pdf, tiny_model_dir, text_field="caption")

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster):
        ddf = dd.from_pandas(pdf, npartitions=3)
        got = score_dataframe(ddf, tiny_model_dir).compute()
        assert got.sort_values("id").reset_index(drop=True)[["id", "score", "label"]].equals(
            local.sort_values("id").reset_index(drop=True)[["id", "score", "label"]])
        # the CLI engine on the same cluster: same output as scoring in one process
        src = write_jsonl(tmp_path / "in.jsonl", rows)
        one, dsk = tmp_path / "one.jsonl", tmp_path / "dask.jsonl"
        score_file(src, one, model=tiny_model_dir)
        s = score_file(src, dsk, model=tiny_model_dir, engine="dask", scheduler=cluster.scheduler_address,
                       block_bytes=500)
        assert (s.read, s.scored, s.rejected) == (25, 24, 1)
        assert one.read_bytes() == dsk.read_bytes()


def test_dask_engine_keeps_no_block_of_posts_after_scoring_it(tmp_path, tiny_model_dir):
    pytest.importorskip("distributed")
    import gc

    from scamdetect.outputs.engines import dask_client, run_dask
    from scamdetect.outputs.files import Unit, read_units

    src = write_jsonl(tmp_path / "in.jsonl", posts(40))
    with dask_client(None, 1) as client:
        results = list(run_dask(read_units(src, "jsonl", "text", 400, 100), str(tiny_model_dir), "text", False,
                                client))
        assert sum(r.read for r in results) == 40

        def blocks_in_memory():
            gc.collect()
            return sum(isinstance(o, Unit) for o in gc.get_objects())

        # The client and the in-process scheduler must not keep the blocks they sent (a copy per
        # block made a million-post run grow past 1 GB). Finished tasks are forgotten a moment
        # after their results arrive, so allow that moment.
        deadline = time.monotonic() + 10
        while blocks_in_memory() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert blocks_in_memory() == 0


def test_progress_bar_on_request_and_quiet_when_piped(tmp_path, tiny_model_dir, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", posts(20))
    score_file(src, tmp_path / "a.jsonl", model=tiny_model_dir, progress=True, block_bytes=300)
    err = capsys.readouterr().err
    assert "posts/s" in err and "100%" in err  # rate, and a total to give an ETA against
    # the CLI in a pipe (pytest's stderr is not a terminal): the summary line only, no bar
    assert main(["score", str(src), "-o", str(tmp_path / "b.jsonl"), "-m", str(tiny_model_dir)]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("read 20, scored 20, rejected 0")
    assert main(["score", str(src), "-o", str(tmp_path / "c.jsonl"), "-m", str(tiny_model_dir), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_output_never_overwrites_the_input(tmp_path, tiny_model_dir):
    src = write_jsonl(tmp_path / "in.jsonl", posts(3))
    before = src.read_bytes()
    with pytest.raises(InputError, match="overwrite the input"):
        score_file(src, tmp_path / "." / "in.jsonl", model=tiny_model_dir)
    assert src.read_bytes() == before
