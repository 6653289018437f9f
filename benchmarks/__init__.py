"""blender-in2n benchmarks: edit-fusion quality per schedule (run.py) and stage timings (bench_stages.py)."""
