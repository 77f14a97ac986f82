"""The PySpark side of the word-count benchmark: local[2], the same word
rules as microtask's wordcount op (ASCII control bytes, space and ASCII
punctuation separate words; ASCII letters lower-cased; other bytes kept),
applied to bytes with one translate table, as a careful PySpark user would.
Start-up (the JVM, the SparkContext) is excluded from the time.

    python spark_wordcount.py FILE   ->   {"seconds":..., "words":..., "distinct":...}"""
import json
import sys
import time
from operator import add

from pyspark import SparkConf, SparkContext

# The same table as tests/integration/wordcount.py, repeated here: this file
# runs inside the benchmark's virtual environment and Spark's workers.
SEPARATORS = bytes(range(0x20)) + b"\x7f " + b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
TABLE = bytearray(range(256))
for b in SEPARATORS:
    TABLE[b] = ord(" ")
for b in range(ord("A"), ord("Z") + 1):
    TABLE[b] = b + 32
TABLE = bytes(TABLE)


def words(line):
    return line.translate(TABLE).split()


def main(path):
    conf = (SparkConf().setMaster("local[2]").setAppName("mt-bench-wordcount")
            .set("spark.driver.memory", "6g").set("spark.ui.enabled", "false"))
    sc = SparkContext(conf=conf)
    sc.setLogLevel("ERROR")
    start = time.time()
    counts = (sc.textFile(path, use_unicode=False)
              .flatMap(words).map(lambda w: (w, 1)).reduceByKey(add).collect())
    seconds = time.time() - start
    sc.stop()
    print(json.dumps({"seconds": seconds, "words": sum(n for _, n in counts),
                      "distinct": len(counts),
                      "top": sorted(((n, w.decode("latin-1")) for w, n in counts),
                                    reverse=True)[:5]}))


if __name__ == "__main__":
    main(sys.argv[1])
