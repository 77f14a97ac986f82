#!/usr/bin/env python3
"""Checks a wordcount result (mtctl result JSON) against an independent count
of the input file. Usage: check_wordcount.py INPUT RESULT.json"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from wordcount import as_json_keys, count_words  # noqa: E402


def main():
    with open(sys.argv[1], "rb") as f:
        expected = as_json_keys(count_words(f.read()))
    with open(sys.argv[2], "rb") as f:
        got = json.load(f)["counts"]
    missing = [w for w in expected if w not in got]
    extra = [w for w in got if w not in expected]
    wrong = [w for w in expected if w in got and got[w] != expected[w]]
    if missing or extra or wrong:
        print(f"MISMATCH: {len(missing)} missing, {len(extra)} extra, "
              f"{len(wrong)} wrong counts; e.g. {(missing + extra + wrong)[:5]}")
        return 1
    print(f"OK: {len(expected)} distinct words, {sum(expected.values())} words, "
          "every count equal to the independent count")
    return 0


if __name__ == "__main__":
    sys.exit(main())
