"""Cathode ASR before/after the balanced stopping rule: python benchmarks/asr_exact.py TREE N (TREE: a checkout)."""
import sys, time, json
sys.path.insert(0, sys.argv[1])
import microsim; assert microsim.__file__.startswith(sys.argv[1]), microsim.__file__
from microsim.generate import generate
from microsim.cell import get_parameter_set
from microsim.transport.electrochem import cathode_asr
n = int(sys.argv[2])
m = generate((n, n, n), {"CAM": 0.7, "LLZO": 0.3}, {"CAM": 2e-6, "LLZO": 1e-6}, voxel_size=0.5e-6, packing="sintered", seed=1)
p = get_parameter_set("improved")
out = {}
for mode, cur in (("linear", None), ("bv", 100.0)):
    t = time.perf_counter()
    a = cathode_asr(m, p.sigma_SE, p.kappa_CAM, p.R_CT, p.R_SP, current_density=cur)
    out[mode] = (time.perf_counter() - t, a.iterations, a.asr * 1e4, a.current_balance_error)
ref = cathode_asr(m, p.sigma_SE, p.kappa_CAM, p.R_CT, p.R_SP, rtol=1e-12)
print(json.dumps({"n": n, **out, "reference_linear": ref.asr * 1e4}))
