// I/O parity with PyTorch / NumPy: files written by Python (a real torch state_dict as
// safetensors via struct + numpy, arrays via numpy.save) load in seqnn with identical values,
// and files written by seqnn read back in Python (json + numpy.frombuffer, numpy.load) with
// identical values. The Python side lives in tests/parity/io_formats.py.
#include <gtest/gtest.h>

#include "common/check.h"
#include <unistd.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <limits>

#include "common/torch_oracle.h"
#include "seqnn/io/npy.h"
#include "seqnn/io/safetensors.h"
#include "seqnn/random.h"

using namespace seqnn;
using namespace seqnn::testutil;
namespace fs = std::filesystem;

namespace {

// A fresh, empty directory per test (removed at exit).
fs::path temp_dir(const std::string& name) { return testutil::scratch_dir("parity_io", name); }

// Python preamble: the helpers module, and the case's directory.
std::string py(const std::string& body) {
  return "import sys, io as pyio, numpy as np\n"
         "sys.path.insert(0, args['parity_dir'])\n"
         "from io_formats import st_write, st_read, widened\n"
         "d = args['dir']\n" +
         body + "\nout = torch.zeros(1)\n";
}

nlohmann::json case_args(const fs::path& dir) {
  return {{"dir", dir.string()}, {"parity_dir", std::string(SEQNN_SOURCE_DIR) + "/tests/parity"}};
}

// Values identical (as doubles, bit for bit; NaN matches NaN), shapes equal.
void expect_identical(const Tensor& got, const Tensor& ref, const std::string& what) {
  ASSERT_TRUE(got.defined() && ref.defined()) << what;
  ASSERT_EQ(got.shape(), ref.shape()) << what;
  const auto a = got.to_vector<double>(), e = ref.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    const bool same = (std::isnan(a[i]) && std::isnan(e[i])) ||
                      std::bit_cast<uint64_t>(a[i]) == std::bit_cast<uint64_t>(e[i]);
    ASSERT_TRUE(same) << what << ": element " << i << " is " << a[i] << ", reference " << e[i];
  }
}

}  // namespace

// ==================================================================== safetensors

TEST(ParityIo, TorchStateDictSafetensorsLoadsInSeqnn) {
  auto d = temp_dir("st_from_torch");
  OracleCase c;
  c.args = case_args(d);
  c.code = py(R"(
torch.manual_seed(0)
lstm = nn.LSTM(4, 3, 2)
fc = nn.Linear(3, 5)
sd = {}
for k, v in lstm.state_dict().items(): sd['lstm.' + k] = v
for k, v in fc.state_dict().items(): sd['fc.' + k] = v
sd['half'] = torch.randn(3, 4).half()
sd['half_special'] = torch.tensor([65504.0, -0.0, float('inf'), 6e-8, float('nan')]).half()
sd['bf16'] = torch.randn(2, 5).bfloat16()
sd['f64'] = torch.randn(2, 2, dtype=torch.float64)
sd['i64'] = torch.tensor([-(2**63), 2**63 - 1, 0, -5])
sd['i32'] = torch.randint(-2**31, 2**31 - 1, (2, 3), dtype=torch.int32)
sd['u8'] = torch.arange(0, 256, 37, dtype=torch.uint8)
sd['mask'] = torch.rand(3, 2) > 0.5
sd['scalar'] = torch.tensor(1.5)
sd['empty'] = torch.zeros(0, 3)
st_write(d + '/torch.safetensors', sd, {'format': 'pt', 'who': 'torch 1.13'})
for k, v in sd.items(): extra[k] = widened(v)
)");
  auto r = run_torch({c})[0];
  io::Safetensors st = io::load_safetensors(d / "torch.safetensors");
  EXPECT_EQ(st.metadata, (io::StringMap{{"format", "pt"}, {"who", "torch 1.13"}}));
  ASSERT_EQ(st.tensors.size(), r.extra.size());
  for (const char* name : {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
                           "lstm.weight_ih_l1", "lstm.weight_hh_l1", "lstm.bias_ih_l1", "lstm.bias_hh_l1",
                           "fc.weight", "fc.bias"})
    EXPECT_EQ(st.tensors.at(name).dtype(), DType::F32) << name;
  EXPECT_EQ(st.tensors.at("lstm.weight_ih_l0").shape(), (Shape{12, 4}));
  EXPECT_EQ(st.tensors.at("lstm.weight_hh_l1").shape(), (Shape{12, 3}));
  EXPECT_EQ(st.tensors.at("fc.weight").shape(), (Shape{5, 3}));
  EXPECT_EQ(st.tensors.at("half").dtype(), DType::F32);
  EXPECT_EQ(st.tensors.at("bf16").dtype(), DType::F32);
  EXPECT_EQ(st.tensors.at("f64").dtype(), DType::F64);
  EXPECT_EQ(st.tensors.at("i32").dtype(), DType::I64);
  EXPECT_EQ(st.tensors.at("u8").dtype(), DType::I64);
  EXPECT_EQ(st.tensors.at("mask").dtype(), DType::Bool);
  for (const auto& [name, ref] : r.extra) {
    ASSERT_TRUE(st.tensors.count(name)) << name;
    expect_identical(st.tensors.at(name), ref, name);
  }
}

TEST(ParityIo, SeqnnSafetensorsReadsInPython) {
  auto d = temp_dir("st_to_python");
  Generator gen(11);
  io::TensorMap m;
  m["encoder.weight"] = randn({4, 3}, DType::F32, &gen);
  m["encoder.bias"] = randn({4}, DType::F32, &gen);
  m["f64"] = randn({2, 3, 2}, DType::F64, &gen);
  m["ids"] = from_vector(std::vector<int64_t>{std::numeric_limits<int64_t>::min(), -1, 0, 7,
                                              std::numeric_limits<int64_t>::max()},
                         {5});
  m["mask"] = bernoulli({3, 3}, 0.5, &gen);
  m["special"] = from_vector(std::vector<float>{NAN, INFINITY, -INFINITY, -0.0f, 1e-45f}, {5});
  m["scalar"] = scalar_tensor(-2.5, DType::F64);
  m["empty"] = empty({2, 0});  // (zeros({2, 0}) trips a core is_contiguous bug, reported)
  m["view"] = randn({3, 4}, DType::F32, &gen).transpose(0, 1);  // non-contiguous
  io::save_safetensors(d / "seqnn.safetensors", m, {{"format", "pt"}, {"step", "12"}});
  OracleCase c;
  c.args = case_args(d);
  c.code = py(R"(
ts, meta, n = st_read(d + '/seqnn.safetensors')
assert meta == {'format': 'pt', 'step': '12'}, meta
assert n % 8 == 0, n
for k, v in ts.items(): extra[k] = widened(v)
)");
  auto r = run_torch({c})[0];
  ASSERT_EQ(r.extra.size(), m.size());
  for (const auto& [name, t] : m) expect_identical(t, r.extra.at(name), name);
}

// ==================================================================== npy

TEST(ParityIo, NumpySaveLoadsInSeqnn) {
  auto d = temp_dir("npy_from_numpy");
  OracleCase c;
  c.args = case_args(d);
  c.code = py(R"(
rng = np.random.default_rng(5)
arrs = {
  'f4': rng.standard_normal((2, 3)).astype(np.float32),
  'f8': rng.standard_normal((4,)),
  'i8': np.array([[-(2**63), 2**63 - 1], [0, -3]], dtype=np.int64),
  'i4': rng.integers(-2**31, 2**31 - 1, size=(3, 2), dtype=np.int32),
  'u1': np.arange(0, 256, 51, dtype=np.uint8),
  'b1': rng.random((2, 2, 2)) > 0.5,
  'f2': np.array([1.0, -2.5, 65504.0, 6e-8, np.inf, np.nan], dtype=np.float16),
  'fortran': np.asfortranarray(rng.standard_normal((3, 4, 2)).astype(np.float32)),
  'fortran_i8': np.asfortranarray(np.arange(12, dtype=np.int64).reshape(3, 4)),
  'scalar': np.array(3.5, dtype=np.float64),
  'empty': np.zeros((0, 3), dtype=np.float32),
}
for k, a in arrs.items():
  np.save(d + '/' + k + '.npy', a)
  extra[k] = widened(torch.from_numpy(np.array(a, order="C")))
with open(d + '/v2.npy', 'wb') as f:
  np.lib.format.write_array(f, arrs['f4'], version=(2, 0))
extra['v2'] = widened(torch.from_numpy(arrs['f4']))
assert np.isfortran(arrs['fortran'])
)");
  auto r = run_torch({c})[0];
  ASSERT_EQ(r.extra.size(), 12u);
  for (const auto& [name, ref] : r.extra) {
    Tensor t = io::load_npy(d / (name + ".npy"));
    expect_identical(t, ref, name);
  }
  EXPECT_EQ(io::load_npy(d / "i4.npy").dtype(), DType::I64);
  EXPECT_EQ(io::load_npy(d / "u1.npy").dtype(), DType::I64);
  EXPECT_EQ(io::load_npy(d / "f2.npy").dtype(), DType::F32);
  EXPECT_EQ(io::load_npy(d / "b1.npy").dtype(), DType::Bool);
  EXPECT_EQ(io::load_npy(d / "f8.npy").dtype(), DType::F64);
}

TEST(ParityIo, SeqnnNpyLoadsInNumpyByteForByte) {
  auto d = temp_dir("npy_to_numpy");
  Generator gen(13);
  std::map<std::string, Tensor> m;
  m["f4"] = randn({3, 5}, DType::F32, &gen);
  m["f8"] = randn({2, 1, 4}, DType::F64, &gen);
  m["i8"] = randint(-1000, 1000, {7}, &gen);
  m["b1"] = bernoulli({2, 3}, 0.5, &gen);
  m["scalar"] = scalar_tensor(-1.25, DType::F32);
  m["empty"] = zeros({0, 2}, DType::F64);
  m["view"] = randn({4, 3}, DType::F32, &gen).transpose(0, 1);
  for (const auto& [name, t] : m) io::save_npy(d / (name + ".npy"), t);
  OracleCase c;
  c.args = case_args(d);
  c.args["names"] = {"f4", "f8", "i8", "b1", "scalar", "empty", "view"};
  c.code = py(R"(
for k in args['names']:
  path = d + '/' + k + '.npy'
  a = np.load(path)
  # numpy.save of the loaded array writes exactly seqnn's bytes (same header layout)
  b = pyio.BytesIO(); np.save(b, a)
  assert b.getvalue() == open(path, 'rb').read(), k
  extra[k] = widened(torch.from_numpy(np.array(a, order="C")))
)");
  auto r = run_torch({c})[0];
  ASSERT_EQ(r.extra.size(), m.size());
  for (const auto& [name, t] : m) expect_identical(t, r.extra.at(name), name);
}
