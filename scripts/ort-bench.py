#!/usr/bin/env python3
# ONNX Runtime alone on a model, for the inference ratio in docs/benchmarks.md:
#   python3 scripts/ort-bench.py MODEL.onnx [RUNS]   (needs: pip install onnxruntime numpy)
import sys, time, numpy as np, onnxruntime as ort
path = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
so = ort.SessionOptions(); so.intra_op_num_threads = 2; so.inter_op_num_threads = 1
s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
inp = s.get_inputs()[0]; shape = [d if isinstance(d, int) else 1 for d in inp.shape]
x = np.random.rand(*shape).astype(np.float32)
for _ in range(10): s.run(None, {inp.name: x})
t = []
for _ in range(n):
    t0 = time.perf_counter(); s.run(None, {inp.name: x}); t.append((time.perf_counter() - t0) * 1000)
t.sort(); print(f"{path} {shape}: median {t[len(t)//2]:.2f} ms p95 {t[int(len(t)*0.95)]:.2f} ms")
