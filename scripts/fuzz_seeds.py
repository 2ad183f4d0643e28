"""Seed inputs for the fuzz targets pickle, torch_pt, onnx_model, multipart_upload and
v4l2_buffer, written into fuzz/corpus/<target>/: `python3 scripts/fuzz_seeds.py fuzz/corpus`
(the ONNX seeds need the `onnx` and `numpy` packages; the others only Python)."""
import collections, io, os, pickle, struct, sys, types, zipfile

out = sys.argv[1]
def put(target, name, data):
    d = os.path.join(out, target); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)

# --- a torch-like pickle: fake torch modules so pickle names the right globals
torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
class FloatStorage: pass
class HalfStorage: pass
FloatStorage.__module__ = "torch"; HalfStorage.__module__ = "torch"
torch.FloatStorage = FloatStorage; torch.HalfStorage = HalfStorage
def _rebuild_tensor_v2(*a): pass
def _rebuild_parameter(*a): pass
_rebuild_tensor_v2.__module__ = "torch._utils"; _rebuild_parameter.__module__ = "torch._utils"
utils._rebuild_tensor_v2 = _rebuild_tensor_v2; utils._rebuild_parameter = _rebuild_parameter
sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils
torch._utils = utils

class Storage:
    def __init__(self, key, n, cls=FloatStorage): self.key, self.n, self.cls = key, n, cls
class Tensor:
    def __init__(self, storage, size, stride, offset=0): self.s, self.size, self.stride, self.offset = storage, size, stride, offset
    def __reduce__(self):
        return (_rebuild_tensor_v2, (self.s, self.offset, self.size, self.stride, False, collections.OrderedDict()))
class Param:
    def __init__(self, t): self.t = t
    def __reduce__(self): return (_rebuild_parameter, (self.t, True, collections.OrderedDict()))
class P(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage): return ("storage", obj.cls, obj.key, "cpu", obj.n)
        return None
def dumps(obj, protocol=2):
    b = io.BytesIO(); P(b, protocol=protocol).dump(obj); return b.getvalue()

s0, s1 = Storage("0", 4), Storage("1", 6, HalfStorage)
sd = collections.OrderedDict([
    ("model.0.conv.weight", Tensor(s0, (2, 2), (2, 1))),
    ("model.0.bn.weight", Param(Tensor(s0, (2,), (1,), 2))),
    ("model.1.conv.weight", Tensor(s1, (3, 2), (1, 3))),
])
data = {"0": struct.pack("<4f", 1, 2, 3, 4), "1": struct.pack("<6e", 1, 2, 3, 4, 5, 6)}

def archive(pkl, storages, prefix="archive/", order=b"little"):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        z.writestr(prefix + "data.pkl", pkl)
        if order is not None: z.writestr(prefix + "byteorder", order)
        for k, v in storages.items(): z.writestr(prefix + "data/" + k, v)
        z.writestr(prefix + "version", b"3\n")
    return b.getvalue()

for proto in (2, 4):
    pk = dumps(sd, proto)
    put("pickle", f"state_dict_p{proto}", pk)
    put("torch_pt", f"state_dict_p{proto}.pt", archive(pk, data))
ckpt = {"epoch": -1, "model": None, "ema": None, "version": "8.3.0",
        "train_args": {"imgsz": 320, "task": "detect"}, "state": sd}
put("torch_pt", "ckpt_dict.pt", archive(dumps(ckpt), data))
put("torch_pt", "big_endian.pt", archive(dumps(sd), data, order=b"big"))
put("torch_pt", "missing_storage.pt", archive(dumps(sd), {"0": data["0"]}))
put("pickle", "plain_p0", pickle.dumps({"a": [1, 2.5, "x", None, True], "b": (1, 2)}, protocol=0))
put("pickle", "plain_p5", pickle.dumps({"names": {0: "crazing", 1: "patches"}, "s": {1, 2}, "f": frozenset([3])}, protocol=5))
put("pickle", "bytes_p3", pickle.dumps([b"\x00" * 8, bytearray(b"ab"), 10**30, -5], protocol=3))

# --- ONNX models: metadata, float / raw / fp16 initializers
try:
    import onnx, numpy as np
    from onnx import helper, TensorProto, numpy_helper
    def model(inits, meta):
        x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 32, 32])
        node = helper.make_node("Identity", ["images"], ["y"])
        g = helper.make_graph([node], "g", [x], [y], initializer=inits)
        m = helper.make_model(g, producer_name="pytorch")
        for k, v in meta.items():
            e = m.metadata_props.add(); e.key, e.value = k, v
        return m.SerializeToString()
    w = numpy_helper.from_array(np.arange(8, dtype=np.float32).reshape(2, 4), "model.0.conv.weight")
    h = numpy_helper.from_array(np.arange(4, dtype=np.float16), "model.0.bn.bias")
    d = numpy_helper.from_array(np.arange(3, dtype=np.float64), "model.1.x")
    f = helper.make_tensor("model.2.conv.weight", TensorProto.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0])
    i = numpy_helper.from_array(np.arange(3, dtype=np.int64), "shape")
    meta = {"names": "{0: 'crazing', 1: \"it's\", 2: 'rolled-in_scale'}", "imgsz": "[320, 320]", "task": "detect", "version": "8.3.0", "stride": "32"}
    put("onnx_model", "ultralytics_meta.onnx", model([w, h, d, f, i], meta))
    put("onnx_model", "plain.onnx", model([w], {}))
    put("onnx_model", "no_graph.onnx", helper.make_model(helper.make_graph([], "g", [], [])).SerializeToString()[:12])
except ImportError as e:
    print("no onnx:", e)

# --- multipart bodies of /api/images/upload (boundary "fuzz")
def part(name, body, filename=None, ctype=None):
    disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"--fuzz\r\nContent-Disposition: {disp}\r\n" + (f"Content-Type: {ctype}\r\n" if ctype else "") + "\r\n"
    return head.encode() + body + b"\r\n"
png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc0000003010100c9fe92ef0000000049454e44ae426082")
put("multipart_upload", "one_image", part("project", b"steel") + part("split", b"train") + part("tags", b"a, b") + part("files", png, "p.png", "image/png") + part("files", b"0 0.5 0.5 0.2 0.2\n", "p.txt") + b"--fuzz--\r\n")
put("multipart_upload", "mask_and_traversal", part("project", b"p") + part("files", png, "../x.png") + part("mask", png, "p.png") + part("files", png, "p.png") + b"--fuzz--\r\n")
put("multipart_upload", "unknown_field", part("nonsense", b"1") + b"--fuzz--\r\n")

# --- V4L2 buffers: width, height, bytes per line (u16 LE), format byte, buffer
yuyv = bytes([16, 128, 235, 128] * 4)  # 4x2 pixels, 8 bytes a row
put("v4l2_buffer", "yuyv_4x2", struct.pack("<HHHB", 4, 2, 8, 0) + yuyv)
put("v4l2_buffer", "yuyv_padded_rows", struct.pack("<HHHB", 2, 2, 8, 0) + bytes(range(16)))
put("v4l2_buffer", "mjpeg_png_inside", struct.pack("<HHHB", 1, 1, 0, 1) + png)
