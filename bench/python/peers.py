"""Python peers of the memostrata bench: joblib.Memory and diskcache on the same job.

Run with Debian's interpreter (/usr/bin/python3), which sees python3-joblib,
python3-diskcache and python3-numpy. Usage:

    /usr/bin/python3 peers.py '<json config>'

config: {"dir": scratch dir, "smallHits": n, "smallMisses": n, "arrayHits": n,
"arrayMisses": n, "arrayMB": 8, "repetitions": n}. Prints one JSON line:
{"joblib": {...}, "diskcache": {...}}, each figure microseconds per call,
the median of the repetitions.
"""
import json
import os
import statistics
import sys
import time

import diskcache
import joblib
import numpy as np


def work(x, basis, options):
    """The trivial work function: the bench measures the cache, not the work."""
    return {"energy": x * 0.5, "basis": basis, "iterations": options["maxIter"]}


def work_array(array):
    return float(array[0])


def small_args(count, offset=0):
    return [(offset + i + 0.25, "sto-3g", {"tol": 1e-8, "maxIter": 50}) for i in range(count)]


def micros_per_call(fn, calls):
    started = time.perf_counter()
    for args in calls:
        fn(*args)
    return (time.perf_counter() - started) * 1e6 / len(calls)


def bench(name, make, config):
    repetitions = config["repetitions"]
    array_len = config["arrayMB"] * 2**20 // 8
    figures = {"smallHit": [], "smallMissStore": [], "arrayHit": [], "arrayMissStore": []}
    for rep in range(repetitions + 1):  # the first round is a warm-up
        small, big = make(os.path.join(config["dir"], f"{name}-{rep}"))
        keys = small_args(100)
        for args in keys:
            small(*args)
        hit_calls = [keys[i % len(keys)] for i in range(config["smallHits"])]
        hit = micros_per_call(small, hit_calls)
        miss = micros_per_call(small, small_args(config["smallMisses"], offset=1000))

        base = np.sin(np.arange(array_len) * 0.001)
        big(base)
        array_hit = micros_per_call(big, [(base,)] * config["arrayHits"])
        fresh = []
        for i in range(config["arrayMisses"]):
            copy = base.copy()
            copy[0] = i + 1.5
            fresh.append((copy,))
        array_miss = micros_per_call(big, fresh)
        if rep > 0:
            figures["smallHit"].append(hit)
            figures["smallMissStore"].append(miss)
            figures["arrayHit"].append(array_hit)
            figures["arrayMissStore"].append(array_miss)
    return {key: statistics.median(values) for key, values in figures.items()}


def make_joblib(path):
    memory = joblib.Memory(location=path, verbose=0)
    return memory.cache(work), memory.cache(work_array)


def make_diskcache(path):
    cache = diskcache.Cache(path)
    return cache.memoize(name="work")(work), cache.memoize(name="work_array")(work_array)


def main():
    config = json.loads(sys.argv[1])
    out = {
        "versions": {"python": sys.version.split()[0], "joblib": joblib.__version__, "diskcache": diskcache.__version__, "numpy": np.__version__},
        "joblib": bench("joblib", make_joblib, config),
        "diskcache": bench("diskcache", make_diskcache, config),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
