// I/O: safetensors, .npy and checkpoints - round trips, one test per validation rule (each
// checks its own message), atomic writes and finding the newest checkpoint.
#include <gtest/gtest.h>

#include "common/check.h"
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "seqnn/io/checkpoint.h"
#include "seqnn/io/npy.h"
#include "seqnn/io/safetensors.h"
#include "seqnn/random.h"

using namespace seqnn;
namespace fs = std::filesystem;

namespace {

// A fresh, empty directory per test (removed at exit).
fs::path temp_dir(const std::string& name) { return testutil::scratch_dir("test_io", name); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The raw bytes of a tensor (contiguous), to compare bit for bit.
std::string bytes_of(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
}

void expect_identical(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_TRUE(a.defined() && b.defined()) << what;
  EXPECT_EQ(a.dtype(), b.dtype()) << what;
  EXPECT_EQ(a.shape(), b.shape()) << what;
  EXPECT_EQ(bytes_of(a), bytes_of(b)) << what;
}

// A safetensors file from a header text and a data section.
std::string st_file(const std::string& header, const std::string& data = "") {
  uint64_t n = header.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

// Expects read_safetensors(bytes) to throw an Error whose message contains `needle`.
void expect_st_error(const std::string& bytes, const std::string& needle) {
  try {
    io::read_safetensors(bytes, "bad.safetensors");
    ADD_FAILURE() << "no error; expected: " << needle;
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("safetensors: bad.safetensors: "), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg << "\nexpected: " << needle;
  }
}

void expect_npy_error(const std::string& bytes, const std::string& needle) {
  try {
    io::read_npy(bytes, "bad.npy");
    ADD_FAILURE() << "no error; expected: " << needle;
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("npy: bad.npy: "), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg << "\nexpected: " << needle;
  }
}

// A .npy v1.0 file from a dict text (padded as NumPy does) and data.
std::string npy_file(const std::string& dict, const std::string& data, int major = 1) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string h = dict;
  h += std::string((64 - (prefix + h.size() + 1) % 64) % 64, ' ') + "\n";
  std::string out = std::string("\x93NUMPY", 6) + char(major) + '\0';
  if (major == 1) {
    uint16_t n = static_cast<uint16_t>(h.size());
    out.append(reinterpret_cast<const char*>(&n), 2);
  } else {
    uint32_t n = static_cast<uint32_t>(h.size());
    out.append(reinterpret_cast<const char*>(&n), 4);
  }
  return out + h + data;
}

template <class T>
std::string raw(std::initializer_list<T> v) {
  std::string s(v.size() * sizeof(T), '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

// Tensors of every writable dtype, with awkward values (nan, inf, -0, denormals, extremes).
io::TensorMap sample_tensors() {
  Generator gen(7);
  io::TensorMap m;
  m["f32"] = randn({3, 4}, DType::F32, &gen);
  m["f64"] = randn({2, 1, 3}, DType::F64, &gen);
  m["i64"] = from_vector(std::vector<int64_t>{0, -1, std::numeric_limits<int64_t>::max(),
                                              std::numeric_limits<int64_t>::min(), 42},
                         {5});
  m["mask"] = from_vector(std::vector<bool>{true, false, false, true, true, false}, {2, 3});
  m["special"] = from_vector(std::vector<float>{NAN, INFINITY, -INFINITY, -0.0f, 1e-45f,
                                                std::numeric_limits<float>::max()},
                             {6});
  m["scalar"] = scalar_tensor(3.25, DType::F64);
  m["empty"] = zeros({0, 5});
  m["empty_last"] = empty({2, 0});
  return m;
}

}  // namespace

// ==================================================================== safetensors round trips

TEST(Safetensors, RoundTripEveryDtypeBitIdentical) {
  auto d = temp_dir("st_roundtrip");
  io::TensorMap m = sample_tensors();
  io::StringMap meta{{"format", "pt"}, {"note", "h\u00e9llo \"quoted\""}};
  io::save_safetensors(d / "a.safetensors", m, meta);
  io::Safetensors back = io::load_safetensors(d / "a.safetensors");
  ASSERT_EQ(back.tensors.size(), m.size());
  for (const auto& [name, t] : m) expect_identical(back.tensors.at(name), t, name);
  EXPECT_EQ(back.metadata, meta);
  // In memory gives the same bytes as the file.
  EXPECT_EQ(io::write_safetensors(m, meta), slurp(d / "a.safetensors"));
}

TEST(Safetensors, LayoutSortedPaddedNoMetadataWhenEmpty) {
  io::TensorMap m{{"b", ones({2})}, {"a", zeros({1}, DType::F64)}};
  std::string bytes = io::write_safetensors(m);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.find("__metadata__"), std::string::npos);
  EXPECT_LT(header.find("\"a\""), header.find("\"b\""));
  EXPECT_EQ(bytes.size(), 8 + n + 8 + 8);
  // Data in name order: a (F64 zero) then b (two F32 ones).
  double a;
  std::memcpy(&a, bytes.data() + 8 + n, 8);
  EXPECT_EQ(a, 0.0);
  float b[2];
  std::memcpy(b, bytes.data() + 8 + n + 8, 8);
  EXPECT_EQ(b[1], 1.0f);
}

TEST(Safetensors, NonContiguousAndRequiresGradTensorsAreWrittenAsValues) {
  Tensor x = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor xt = x.transpose(0, 1);  // (3,2) view
  auto back = io::read_safetensors(io::write_safetensors({{"xt", xt}}));
  EXPECT_EQ(back.tensors.at("xt").shape(), (Shape{3, 2}));
  EXPECT_EQ(back.tensors.at("xt").to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(Safetensors, ReadsWidenedDtypes) {
  // F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), inf, -0.
  std::string f16 = raw<uint16_t>({0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x8000});
  std::string bf16 = raw<uint16_t>({0x3f80, 0xc0a0, 0x7f80});  // 1, -5, inf
  std::string i32 = raw<int32_t>({-7, 2147483647});
  std::string u8 = raw<uint8_t>({0, 200, 255});
  std::string b = raw<uint8_t>({1, 0, 2});  // 2 is read as true
  std::string header =
      R"({"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},)"
      R"("bf":{"dtype":"BF16","shape":[3],"data_offsets":[12,18]},)"
      R"("i":{"dtype":"I32","shape":[2],"data_offsets":[18,26]},)"
      R"("u":{"dtype":"U8","shape":[3],"data_offsets":[26,29]},)"
      R"("b":{"dtype":"BOOL","shape":[3],"data_offsets":[29,32]}})";
  auto st = io::read_safetensors(st_file(header, f16 + bf16 + i32 + u8 + b));
  EXPECT_EQ(st.tensors.at("h").dtype(), DType::F32);
  EXPECT_EQ(st.tensors.at("h").to_vector<float>(),
            (std::vector<float>{1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24), INFINITY, -0.0f}));
  EXPECT_TRUE(std::signbit(st.tensors.at("h").to_vector<float>()[5]));
  EXPECT_EQ(st.tensors.at("bf").to_vector<float>(), (std::vector<float>{1.0f, -5.0f, INFINITY}));
  EXPECT_EQ(st.tensors.at("i").dtype(), DType::I64);
  EXPECT_EQ(st.tensors.at("i").to_vector<int64_t>(), (std::vector<int64_t>{-7, 2147483647}));
  EXPECT_EQ(st.tensors.at("u").to_vector<int64_t>(), (std::vector<int64_t>{0, 200, 255}));
  EXPECT_EQ(st.tensors.at("b").dtype(), DType::Bool);
  EXPECT_EQ(st.tensors.at("b").to_vector<bool>(), (std::vector<bool>{true, false, true}));
}

TEST(Safetensors, HalfConversionAllFiniteValuesExact) {
  // Every finite half, checked against the closed form (-1)^s * 2^(e-15) * (1 + m/1024).
  std::string data;
  std::vector<float> expect;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint32_t e = (h >> 10) & 31, m = h & 1023;
    if (e == 31) continue;
    const float mag = e == 0 ? std::ldexp(float(m), -24) : std::ldexp(1.0f + float(m) / 1024.0f, int(e) - 15);
    expect.push_back((h & 0x8000) ? -mag : mag);
    uint16_t v = static_cast<uint16_t>(h);
    data.append(reinterpret_cast<const char*>(&v), 2);
  }
  std::string header = R"({"h":{"dtype":"F16","shape":[)" + std::to_string(expect.size()) +
                       R"(],"data_offsets":[0,)" + std::to_string(data.size()) + "]}}";
  auto got = io::read_safetensors(st_file(header, data)).tensors.at("h").to_vector<float>();
  ASSERT_EQ(got.size(), expect.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(expect[i])) << i;
  // NaN stays NaN.
  std::string nan = st_file(R"({"n":{"dtype":"F16","shape":[],"data_offsets":[0,2]}})", raw<uint16_t>({0x7e00}));
  EXPECT_TRUE(std::isnan(io::read_safetensors(nan).tensors.at("n").item()));
}

TEST(Safetensors, EmptyFileAndScalarsAndZeroSizedEntries) {
  auto st = io::read_safetensors(st_file("{}"));
  EXPECT_TRUE(st.tensors.empty());
  auto z = io::read_safetensors(st_file(
      R"({"z":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})",
      raw<int64_t>({-3})));
  EXPECT_EQ(z.tensors.at("z").shape(), (Shape{0, 3}));
  EXPECT_EQ(z.tensors.at("s").item(), -3.0);
}

// ==================================================================== safetensors validation

TEST(SafetensorsValidation, FileShorterThan8Bytes) {
  expect_st_error("abc", "file is 3 bytes, shorter than the 8-byte header length");
}

TEST(SafetensorsValidation, HeaderLengthBeyondFile) {
  std::string f = st_file("{}");
  f[0] = 100;
  expect_st_error(f, "header length 100 exceeds the file (2 bytes after the length field)");
}

TEST(SafetensorsValidation, HeaderLengthAbove100MB) {
  std::string f(8, '\0');
  uint64_t n = 100'000'001;
  std::memcpy(f.data(), &n, 8);
  expect_st_error(f, "header length 100000001 exceeds the limit of 100000000 bytes");
  n = ~0ull;  // and the largest u64 (no overflow in the size arithmetic)
  std::memcpy(f.data(), &n, 8);
  expect_st_error(f, "exceeds the limit");
}

TEST(SafetensorsValidation, MalformedJson) {
  expect_st_error(st_file(R"({"a": {"dtype": "F32",)"), "header is not valid JSON");
  expect_st_error(st_file("\xff\xfe{}"), "header is not valid JSON");
}

TEST(SafetensorsValidation, HeaderNotAnObject) {
  expect_st_error(st_file("[1, 2]"), "header must be a JSON object, got array");
}

TEST(SafetensorsValidation, EntryNotAnObject) {
  expect_st_error(st_file(R"({"w": [1, 2]})"), "entry 'w' must be an object, got array");
}

TEST(SafetensorsValidation, MissingFields) {
  expect_st_error(st_file(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})"), "entry 'w' has no \"dtype\"");
  expect_st_error(st_file(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})"), "entry 'w' has no \"shape\"");
  expect_st_error(st_file(R"({"w": {"dtype": "F32", "shape": [1]}})"), "entry 'w' has no \"data_offsets\"");
  expect_st_error(st_file(R"({"w": {"dtype": "F32", "shape": 3, "data_offsets": [0, 4]}})", "0000"),
                  "shape must be an array, got 3");
  expect_st_error(st_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", "0000"),
                  "data_offsets must be [begin, end], got [0]");
  expect_st_error(st_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, -4]}})", "0000"),
                  "data_offsets must be non-negative integers");
}

TEST(SafetensorsValidation, UnknownDtype) {
  expect_st_error(st_file(R"({"w": {"dtype": "F8", "shape": [1], "data_offsets": [0, 1]}})", "0"),
                  "entry 'w': unsupported dtype 'F8'");
  expect_st_error(st_file(R"({"w": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", "0000"),
                  "entry 'w': dtype must be a string, got 4");
}

TEST(SafetensorsValidation, NegativeOrNonIntegerShapeEntries) {
  expect_st_error(st_file(R"({"w": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 8]}})", "00000000"),
                  "entry 'w': shape entry 1 must be a non-negative integer, got -1");
  expect_st_error(st_file(R"({"w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}})", "00000000"),
                  "shape entry 0 must be a non-negative integer, got 2.0");
  expect_st_error(st_file(R"({"w": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}})", "00000000"),
                  "shape entry 0 must be a non-negative integer, got \"2\"");
}

TEST(SafetensorsValidation, ShapeProductOverflows) {
  expect_st_error(
      st_file(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})"),
      "entry 'w': shape (4294967296,4294967296) element count overflows");
  // A zero dim does not excuse the others: strides must still fit.
  expect_st_error(
      st_file(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 0], "data_offsets": [0, 0]}})"),
      "element count overflows");
  // Fits in int64 elements but not in bytes.
  expect_st_error(
      st_file(R"({"w": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})"),
      "element count overflows");
}

TEST(SafetensorsValidation, SizeMismatch) {
  expect_st_error(st_file(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", std::string(24, 'x')),
                  "entry 'w': shape (2,3) of F32 needs 24 bytes but data_offsets [0, 20] hold 20");
}

TEST(SafetensorsValidation, BeginAfterEnd) {
  expect_st_error(st_file(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}})", std::string(8, 'x')),
                  "entry 'w': data_offsets begin 8 > end 4");
}

TEST(SafetensorsValidation, OffsetsOutsideDataSection) {
  expect_st_error(st_file(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", std::string(8, 'x')),
                  "entry 'w': data_offsets [4, 12] lie outside the data section (8 bytes)");
  // Huge offsets do not wrap around.
  expect_st_error(
      st_file(R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [9223372036854775806, 9223372036854775807]}})"),
      "lie outside the data section (0 bytes)");
}

TEST(SafetensorsValidation, OverlappingRanges) {
  expect_st_error(st_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                          R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                          std::string(12, 'x')),
                  "entries 'a' [0, 8] and 'b' [4, 12] overlap");
  // Zero-length entries overlap nothing.
  EXPECT_NO_THROW(io::read_safetensors(st_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                                               R"( "b": {"dtype": "F32", "shape": [0], "data_offsets": [2, 2]}})",
                                               std::string(4, 'x'))));
}

TEST(SafetensorsValidation, MetadataValuesMustBeStrings) {
  expect_st_error(st_file(R"({"__metadata__": {"step": 3}})"),
                  "metadata value for key 'step' must be a string, got number");
  expect_st_error(st_file(R"({"__metadata__": [1]})"), "__metadata__ must be an object, got array");
}

TEST(SafetensorsValidation, DeeplyNestedJsonIsAnErrorNotACrash) {
  std::string deep = R"({"w": {"dtype": "F32", "shape": [)" + std::string(20000, '[') + std::string(20000, ']') +
                     R"(], "data_offsets": [0, 0]}})";
  expect_st_error(st_file(deep), "shape entry 0 must be a non-negative integer, got a nested array");
}

TEST(SafetensorsValidation, LoadNamesTheFileAndMissingFileIsAnError) {
  auto d = temp_dir("st_missing");
  try {
    io::load_safetensors(d / "nope.safetensors");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.safetensors"), std::string::npos) << e.what();
  }
  spit(d / "short.safetensors", "abc");
  try {
    io::load_safetensors(d / "short.safetensors");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("short.safetensors: file is 3 bytes"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsValidation, WriterRejectsBadInput) {
  EXPECT_THROW(io::write_safetensors({{"x", Tensor()}}), Error);
  EXPECT_THROW(io::write_safetensors({{"__metadata__", ones({1})}}), Error);
  EXPECT_THROW(io::write_safetensors({{"bad\xff", ones({1})}}), Error);
}

TEST(Safetensors, InspectReadsOnlyTheHeaderAndChecksTheSize) {
  auto d = temp_dir("st_inspect");
  io::save_safetensors(d / "a.safetensors", sample_tensors(), {{"k", "v"}});
  auto h = io::inspect_safetensors(d / "a.safetensors");
  EXPECT_EQ(h.entries.size(), sample_tensors().size());
  EXPECT_EQ(h.metadata.at("k"), "v");
  EXPECT_EQ(h.data_offset + h.data_size, fs::file_size(d / "a.safetensors"));
  std::string bytes = slurp(d / "a.safetensors");
  spit(d / "torn.safetensors", bytes.substr(0, bytes.size() - 1));
  EXPECT_THROW(io::inspect_safetensors(d / "torn.safetensors"), Error);
  EXPECT_THROW(io::inspect_safetensors(d / "absent.safetensors"), Error);
  EXPECT_THROW(io::inspect_safetensors(d), Error);  // a directory
  EXPECT_THROW(io::load_safetensors(d), Error);
}

// ==================================================================== npy round trips

TEST(Npy, RoundTripEveryDtypeBitIdentical) {
  auto d = temp_dir("npy_roundtrip");
  for (const auto& [name, t] : sample_tensors()) {
    io::save_npy(d / (name + ".npy"), t);
    expect_identical(io::load_npy(d / (name + ".npy")), t, name);
    EXPECT_EQ(io::write_npy(t), slurp(d / (name + ".npy"))) << name;
  }
}

TEST(Npy, HeaderLayoutMatchesNumpy) {
  // Exactly what numpy.save writes for np.zeros((2, 3), np.float32) and a 1-d / 0-d array.
  std::string b = io::write_npy(zeros({2, 3}));
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  ASSERT_EQ(b.size(), 128u + 24u);  // 128-byte header + 24 data bytes
  EXPECT_EQ(b.substr(0, 10), std::string("\x93NUMPY\x01\x00\x76\x00", 10));  // header length 118
  EXPECT_EQ(b.substr(10, 118), dict + std::string(118 - dict.size() - 1, ' ') + "\n");
  EXPECT_NE(io::write_npy(zeros({5}, DType::I64)).find("'descr': '<i8', 'fortran_order': False, 'shape': (5,), }"),
            std::string::npos);
  EXPECT_NE(io::write_npy(scalar_tensor(1, DType::Bool)).find("'descr': '|b1', 'fortran_order': False, 'shape': (), }"),
            std::string::npos);
}

TEST(Npy, ReadsWidenedDtypesAndVersion2) {
  auto i4 = io::read_npy(npy_file("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", raw<int32_t>({-5, 9})));
  EXPECT_EQ(i4.dtype(), DType::I64);
  EXPECT_EQ(i4.to_vector<int64_t>(), (std::vector<int64_t>{-5, 9}));
  auto u1 = io::read_npy(npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", raw<uint8_t>({0, 128, 255})));
  EXPECT_EQ(u1.to_vector<int64_t>(), (std::vector<int64_t>{0, 128, 255}));
  auto f2 = io::read_npy(npy_file("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", raw<uint16_t>({0x3c00, 0xb800})));
  EXPECT_EQ(f2.to_vector<float>(), (std::vector<float>{1.0f, -0.5f}));
  auto b1 = io::read_npy(npy_file("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", raw<uint8_t>({0, 1, 7})));
  EXPECT_EQ(b1.to_vector<bool>(), (std::vector<bool>{false, true, true}));
  auto v2 = io::read_npy(npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", raw<double>({1.5, -2}), 2));
  EXPECT_EQ(v2.shape(), (Shape{1, 2}));
  EXPECT_EQ(v2.to_vector<double>(), (std::vector<double>{1.5, -2}));
  // Double quotes, no trailing comma, extra spaces: still a valid Python dict.
  auto q = io::read_npy(npy_file("{\"shape\" : ( 2 , ) ,\"fortran_order\":False,\"descr\":\"<f4\"}", raw<float>({1, 2})));
  EXPECT_EQ(q.to_vector<float>(), (std::vector<float>{1, 2}));
}

TEST(Npy, FortranOrderIsTransposed) {
  // numpy.asfortranarray(np.arange(24).reshape(2, 3, 4)) stores element (i,j,k) at i + 2j + 6k.
  std::vector<int64_t> fdata(24);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) fdata[i + 2 * j + 6 * k] = 12 * i + 4 * j + k;
  std::string data(reinterpret_cast<const char*>(fdata.data()), 24 * 8);
  auto t = io::read_npy(npy_file("{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3, 4), }", data));
  EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(t.to_vector<int64_t>(), arange(24).to_vector<int64_t>());
  auto one = io::read_npy(npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", raw<float>({1, 2, 3})));
  EXPECT_EQ(one.to_vector<float>(), (std::vector<float>{1, 2, 3}));
}

// ==================================================================== npy validation

TEST(NpyValidation, TruncatedHeaderAndBadMagic) {
  expect_npy_error("\x93NUMPY", "file is 6 bytes, too short for a .npy header");
  expect_npy_error(std::string("\x93NUMPX\x01\x00\x10\x00", 10) + std::string(16, ' '), "bad magic");
  expect_npy_error(std::string("\x93NUMPY\x03\x00\x10\x00", 10) + std::string(16, ' '), "unsupported format version 3.0");
  std::string f = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", raw<float>({1}));
  expect_npy_error(f.substr(0, 40), "header length 118 exceeds the file (30 bytes after the length field)");
}

TEST(NpyValidation, MalformedDict) {
  expect_npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,) ", raw<float>({1})),
                   "malformed header dict: expected ',' or '}'");
  expect_npy_error(npy_file("{'descr': '<f4, 'fortran_order': False, 'shape': (1,), }", raw<float>({1})),
                   "malformed header dict");
  expect_npy_error(npy_file("{'descr': '<f4', 'fortran_order': false, 'shape': (1,), }", raw<float>({1})),
                   "malformed header dict: expected a string, True, False or a tuple");
  expect_npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1), }", raw<float>({1})),
                   "'(n)' is an int, a 1-tuple is written '(n,)'");
  expect_npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", raw<float>({1})),
                   "unexpected text after the dict");
  expect_npy_error(npy_file("{'descr': '<f4', 'descr': '<f4', 'shape': (1,), }", raw<float>({1})),
                   "header dict repeats key 'descr'");
  expect_npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, }", raw<float>({1})),
                   "header dict must have exactly the keys 'descr', 'fortran_order', 'shape'");
  expect_npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': True}", raw<float>({1})),
                   "must have exactly the keys");
  expect_npy_error(npy_file("{'descr': True, 'fortran_order': False, 'shape': (1,), }", raw<float>({1})),
                   "'descr' must be a string");
  expect_npy_error(npy_file("{'descr': '<f4', 'fortran_order': 'no', 'shape': (1,), }", raw<float>({1})),
                   "'fortran_order' must be True or False");
  expect_npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': '1', }", raw<float>({1})),
                   "'shape' must be a tuple of integers");
}

TEST(NpyValidation, ShapeEntries) {
  expect_npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", ""),
                   "shape entries must be non-negative");
  expect_npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", ""),
                   "shape entry is too large");
  expect_npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", ""),
                   "shape (4294967296,4294967296) element count overflows");
}

TEST(NpyValidation, Descr) {
  expect_npy_error(npy_file("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", raw<float>({1})),
                   "big-endian descr '>f4' is not supported");
  expect_npy_error(npy_file("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", raw<double>({1})),
                   "unsupported descr '<c8'");
}

TEST(NpyValidation, DataSizeMismatch) {
  expect_npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", std::string(20, 'x')),
                   "data is truncated: shape (2,3) of <f4 needs 24 bytes, file has 20");
  expect_npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", std::string(25, 'x')),
                   "1 trailing bytes after the data of shape (2,3)");
}

TEST(NpyValidation, LoadNamesTheFile) {
  auto d = temp_dir("npy_missing");
  spit(d / "x.npy", "\x93NUMPY");
  try {
    io::load_npy(d / "x.npy");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.npy: file is 6 bytes"), std::string::npos) << e.what();
  }
  EXPECT_THROW(io::load_npy(d / "absent.npy"), Error);
  EXPECT_THROW(io::load_npy(d), Error);  // a directory
  EXPECT_THROW(io::load_checkpoint(d), Error);
  EXPECT_THROW(io::write_npy(Tensor()), Error);
}

// ==================================================================== checkpoints

TEST(Checkpoint, RoundTripTensorsAndMeta) {
  auto d = temp_dir("ck_roundtrip");
  io::Checkpoint ck;
  ck.tensors = io::prefixed(sample_tensors(), "model.");
  ck.tensors["optim.step"] = scalar_tensor(12, DType::I64);
  ck.meta = {{"step", 1200}, {"lr", 3e-4}, {"generator", "123 456"}, {"nested", {{"a", {1, 2}}}}};
  io::save_checkpoint(d / "c.safetensors", ck);
  io::Checkpoint back = io::load_checkpoint(d / "c.safetensors");
  EXPECT_EQ(back.meta, ck.meta);
  ASSERT_EQ(back.tensors.size(), ck.tensors.size());
  for (const auto& [name, t] : ck.tensors) expect_identical(back.tensors.at(name), t, name);
  auto model = io::strip_prefix(back.tensors, "model.");
  EXPECT_EQ(model.size(), sample_tensors().size());
  EXPECT_TRUE(model.count("f32"));
  // It is an ordinary safetensors file.
  auto st = io::load_safetensors(d / "c.safetensors");
  EXPECT_EQ(st.metadata.at("seqnn.format"), "checkpoint/1");
  EXPECT_EQ(nlohmann::json::parse(st.metadata.at("seqnn.meta")), ck.meta);
  // A plain safetensors file loads with empty meta.
  io::save_safetensors(d / "plain.safetensors", {{"w", ones({2})}});
  EXPECT_EQ(io::load_checkpoint(d / "plain.safetensors").meta, nlohmann::json::object());
}

TEST(Checkpoint, BadMetaJsonIsAnError) {
  auto d = temp_dir("ck_badmeta");
  io::save_safetensors(d / "c.safetensors", {}, {{"seqnn.meta", "{not json"}});
  try {
    io::load_checkpoint(d / "c.safetensors");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("metadata 'seqnn.meta' is not valid JSON"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, LeftoverTempFileDoesNotAffectLoading) {
  auto d = temp_dir("ck_tmp");
  io::Checkpoint ck;
  ck.tensors["w"] = from_vector(std::vector<float>{1, 2, 3}, {3});
  ck.meta = {{"step", 5}};
  auto p = io::checkpoint_path(d, "ckpt_", 5);
  io::save_checkpoint(p, ck);
  // A crash in the middle of a later save leaves a torn temp file next to it.
  std::string bytes = slurp(p);
  spit(p.string() + ".tmp.99999", bytes.substr(0, bytes.size() / 2));
  spit(io::checkpoint_path(d, "ckpt_", 9).string() + ".tmp.12345", bytes.substr(0, 20));
  EXPECT_EQ(io::load_checkpoint(p).tensors.at("w").to_vector<float>(), (std::vector<float>{1, 2, 3}));
  auto last = io::latest_checkpoint(d, "ckpt_");
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->step, 5);
  EXPECT_EQ(last->path, p);
  // Saving cleans up after itself: only the checkpoint and the two foreign temp files remain.
  io::save_checkpoint(p, ck);
  EXPECT_EQ(std::distance(fs::directory_iterator(d), fs::directory_iterator()), 3);
}

TEST(Checkpoint, OldFileSurvivesAFailedWrite) {
  auto d = temp_dir("ck_fail");
  auto p = d / "c.safetensors";
  io::Checkpoint ck;
  ck.tensors["w"] = ones({2});
  ck.meta = {{"step", 1}};
  io::save_checkpoint(p, ck);
  const std::string before = slurp(p);
  // An undefined tensor: rejected before the file system is touched.
  io::Checkpoint bad = ck;
  bad.tensors["broken"] = Tensor();
  bad.meta = {{"step", 2}};
  EXPECT_THROW(io::save_checkpoint(p, bad), Error);
  EXPECT_EQ(slurp(p), before);
  // The temp file cannot be created (a directory is in its way; this fails even for root, where
  // a read-only directory would not).
  fs::create_directory(p.string() + ".tmp." + std::to_string(::getpid()));
  ck.meta = {{"step", 3}};
  try {
    io::save_checkpoint(p, ck);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create temp file"), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(p), before);
  EXPECT_EQ(io::load_checkpoint(p).meta["step"], 1);
  // A missing directory is an error too, naming the path.
  EXPECT_THROW(io::save_checkpoint(d / "no" / "such" / "c.safetensors", ck), Error);
  // A rename that fails (target is a non-empty directory) removes the temp file.
  fs::create_directories(d / "dir.safetensors" / "x");
  EXPECT_THROW(io::save_checkpoint(d / "dir.safetensors", ck), Error);
  EXPECT_FALSE(fs::exists(d / ("dir.safetensors.tmp." + std::to_string(::getpid()))));
}

TEST(Checkpoint, LatestPicksTheHighestCompleteStep) {
  auto d = temp_dir("ck_latest");
  EXPECT_FALSE(io::latest_checkpoint(d, "ckpt_").has_value());
  EXPECT_FALSE(io::latest_checkpoint(d / "absent", "ckpt_").has_value());
  io::Checkpoint ck;
  ck.tensors["w"] = ones({4});
  for (int64_t step : {100, 20, 3000}) {
    ck.meta = {{"step", step}};
    io::save_checkpoint(io::checkpoint_path(d, "ckpt_", step), ck);
  }
  EXPECT_EQ(io::checkpoint_path(d, "ckpt_", 20).filename(), "ckpt_00000020.safetensors");
  // Newer but torn (truncated) -> skipped; non-matching names -> ignored.
  std::string bytes = slurp(io::checkpoint_path(d, "ckpt_", 3000));
  spit(d / "ckpt_00009000.safetensors", bytes.substr(0, bytes.size() - 3));
  spit(d / "ckpt_99999.safetensors.tmp.1", bytes);
  spit(d / "other_99999.safetensors", bytes);
  spit(d / "ckpt_12x.safetensors", bytes);
  spit(d / "ckpt_.safetensors", bytes);
  auto last = io::latest_checkpoint(d, "ckpt_");
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->step, 3000);
  EXPECT_EQ(io::load_checkpoint(last->path).meta["step"], 3000);
  // Steps compare as numbers, not strings (unpadded names work too).
  ck.meta = {{"step", 10000}};
  io::save_checkpoint(d / "ckpt_10000.safetensors", ck);
  EXPECT_EQ(io::latest_checkpoint(d, "ckpt_")->step, 10000);
  EXPECT_THROW(io::checkpoint_path(d, "ckpt_", -1), Error);
}
