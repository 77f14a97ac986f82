"""The four programs under valgrind on a real job: no invalid reads or
writes, no use of uninitialised memory, no definite leaks, exit 0."""
import os
import shutil

import pytest

from conftest import BIN, Cluster
from wordcount import as_json_keys, count_words

VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite"]


@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind not installed")
def test_programs_are_valgrind_clean(tmp_path):
    # the programs run through valgrind from a folder of wrapper scripts
    wrap = tmp_path / "bin"
    wrap.mkdir()
    for prog in ("mt-producer", "mt-consumer", "mt-aggregator", "mtctl"):
        script = wrap / prog
        script.write_text("#!/bin/sh\nexec " + " ".join(VALGRIND) +
                          f" {os.path.join(BIN, prog)} \"$@\"\n")
        script.chmod(0o755)
    c = Cluster(tmp_path, partitions=3, bin_dir=str(wrap))
    try:
        c.consumer("--threads", "2")
        c.aggregator()
        c.wait_ready(timeout=120)
        text = (b"Hello, WORLD!\r\nvalgrind \xff\xfe caf\xc3\xa9 " * 300 +
                b"the end")
        path = tmp_path / "in.txt"
        path.write_bytes(text)
        job = c.submit(str(path), args=["--bytes", "500"])
        c.wait(job, timeout=300)
        res = c.result(job)
        assert res["counts"] == as_json_keys(count_words(text))
        assert c.ctl("status", job).returncode == 0
    finally:
        c.close()  # exit code 99 from valgrind would fail here
