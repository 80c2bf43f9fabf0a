// A main() for the fuzz targets that needs no clang: runs LLVMFuzzerTestOneInput over a seed
// corpus it generates itself, then over deterministic random mutations of the seeds (bit flips,
// byte edits, truncations, insertions, deletions, header-length edits, splices). The ordinary
// g++ build (and the ASan/UBSan build) runs it as a ctest; libFuzzer does the open-ended search.
//
//   replay_safetensors [--iterations N] [--seconds S] [--seed X]   mutate the built-in seeds
//   replay_safetensors --write-seeds DIR                            write the seeds (libFuzzer corpus)
//   replay_safetensors FILE...                                      run the given inputs (repro)
//
// SEQNN_FUZZ_FORMAT ("safetensors", "npy", "idx", "mo" or "wav") picks the seeds; a target only sees its
// format.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "seqnn/data/audio.h"
#include "seqnn/io/idx.h"
#include "seqnn/io/mo.h"
#include "seqnn/io/npy.h"
#include "seqnn/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#ifndef SEQNN_FUZZ_FORMAT
#define SEQNN_FUZZ_FORMAT "safetensors"
#endif

namespace {

using namespace seqnn;

// ==================================================================== seeds

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

std::string st_raw(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

std::string npy_raw(const std::string& dict, const std::string& data, int major) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string h = dict + std::string((64 - (prefix + dict.size() + 1) % 64) % 64, ' ') + "\n";
  std::string out = std::string("\x93NUMPY", 6) + char(major) + '\0';
  const uint32_t n = static_cast<uint32_t>(h.size());
  out.append(reinterpret_cast<const char*>(&n), major == 1 ? 2 : 4);
  return out + h + data;
}

std::vector<std::string> safetensors_seeds() {
  io::TensorMap m;
  m["a.weight"] = from_vector(std::vector<float>{1.5f, -2.0f, 0.25f, 3.0f, -0.0f, 7.0f}, {2, 3});
  m["a.bias"] = from_vector(std::vector<double>{0.5, -1.0}, {2});
  m["ids"] = from_vector(std::vector<int64_t>{3, -1, 7}, {3});
  m["mask"] = from_vector(std::vector<bool>{true, false, true, true}, {2, 2});
  m["scalar"] = scalar_tensor(2.0);
  m["empty"] = zeros({0, 4});
  std::vector<std::string> seeds;
  seeds.push_back(io::write_safetensors(m, {{"format", "pt"}, {"seqnn.meta", "{\"step\": 3}"}}));
  seeds.push_back(io::write_safetensors({{"w", ones({4})}}));
  seeds.push_back(io::write_safetensors({}));
  seeds.push_back(st_raw(R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},)"
                         R"("i":{"dtype":"I32","shape":[1,1],"data_offsets":[8,12]},)"
                         R"("u":{"dtype":"U8","shape":[3],"data_offsets":[12,15]},)"
                         R"("t":{"dtype":"BOOL","shape":[1],"data_offsets":[15,16]},)"
                         R"("__metadata__":{"k":"v"}})",
                         std::string("\x00\x3c\x00\xc0\x80\x3f\x80\xbf\x07\x00\x00\x00\x01\x02\xff\x01", 16)));
  return seeds;
}

std::vector<std::string> npy_seeds() {
  std::vector<std::string> seeds;
  seeds.push_back(io::write_npy(from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3})));
  seeds.push_back(io::write_npy(from_vector(std::vector<double>{0.5, -0.25}, {2})));
  seeds.push_back(io::write_npy(from_vector(std::vector<int64_t>{9}, {1, 1, 1})));
  seeds.push_back(io::write_npy(from_vector(std::vector<bool>{true, false, true}, {3})));
  seeds.push_back(io::write_npy(scalar_tensor(4.0, DType::F64)));
  seeds.push_back(io::write_npy(zeros({0, 3})));
  const std::string i32("\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05\x00\x00\x00\x06\x00\x00\x00", 24);
  seeds.push_back(npy_raw("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }", i32, 1));
  seeds.push_back(npy_raw("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", std::string("\x00\x3c\x00\xc0", 4), 2));
  seeds.push_back(npy_raw("{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (3,)}", "\x01\x02\xff", 1));
  return seeds;
}

// IDX: u8 images with labels, each element type, rank 1..4, an empty dim, and a gzip-wrapped
// file (a tiny hand-made gzip member: header, a stored deflate block, CRC32 and length).
std::string gzip_stored(const std::string& payload) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char c : payload) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  crc = ~crc;
  std::string g("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
  const uint16_t len = static_cast<uint16_t>(payload.size()), nlen = static_cast<uint16_t>(~len);
  g += '\x01';  // final stored block
  g.append(reinterpret_cast<const char*>(&len), 2);
  g.append(reinterpret_cast<const char*>(&nlen), 2);
  g += payload;
  g.append(reinterpret_cast<const char*>(&crc), 4);
  const uint32_t isize = static_cast<uint32_t>(payload.size());
  g.append(reinterpret_cast<const char*>(&isize), 4);
  return g;
}

std::vector<std::string> idx_seeds() {
  auto arr = [](io::IdxType t, Shape shape) {
    io::IdxArray a;
    a.type = t;
    a.shape = shape;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    a.bytes.resize(static_cast<size_t>(n) * io::idx_type_size(t));
    for (size_t i = 0; i < a.bytes.size(); ++i) a.bytes[i] = static_cast<uint8_t>(i * 37 + 11);
    return io::write_idx(a);
  };
  std::vector<std::string> seeds;
  seeds.push_back(arr(io::IdxType::U8, {3, 4, 4}));
  seeds.push_back(arr(io::IdxType::U8, {5}));
  seeds.push_back(arr(io::IdxType::I8, {2, 3}));
  seeds.push_back(arr(io::IdxType::I16, {2, 2}));
  seeds.push_back(arr(io::IdxType::I32, {3}));
  seeds.push_back(arr(io::IdxType::F32, {1, 2, 1, 2}));
  seeds.push_back(arr(io::IdxType::F64, {2}));
  seeds.push_back(arr(io::IdxType::U8, {0, 28, 28}));
  seeds.push_back(gzip_stored(arr(io::IdxType::U8, {2, 3, 3})));
  return seeds;
}

// .mo: both byte orders, a context, a plural entry, a header, an empty catalog, and a file with
// a hash table (gettext's own layout).
std::vector<std::string> mo_seeds() {
  io::MoCatalog c;
  c.header = "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=(n != 1);\n";
  c.entries.push_back({"", "Open file", "", {"Datei \xc3\xb6""ffnen"}});
  c.entries.push_back({"menu", "_Quit", "", {"_Beenden"}});
  c.entries.push_back({"", "%d file", "%d files", {"%d Datei", "%d Dateien"}});
  std::vector<std::string> seeds;
  seeds.push_back(io::write_mo(c, false));
  seeds.push_back(io::write_mo(c, true));
  seeds.push_back(io::write_mo(io::MoCatalog{}, false));
  std::string h = io::write_mo(c, false);  // give it a 3-entry hash table after the strings
  const uint32_t hsize = 3, hoff = static_cast<uint32_t>(h.size());
  std::memcpy(h.data() + 20, &hsize, 4);
  std::memcpy(h.data() + 24, &hoff, 4);
  h += std::string(12, '\x01');
  seeds.push_back(h);
  return seeds;
}

// WAV: every sample format (PCM 8/16/24/32, float 32/64, extensible), stereo, extra and odd-sized
// chunks, and espeak-ng's streaming header (placeholder RIFF and data sizes).
std::string wav_u16(uint32_t v) { return std::string{static_cast<char>(v & 0xff), static_cast<char>((v >> 8) & 0xff)}; }
std::string wav_u32(uint32_t v) { return wav_u16(v & 0xffff) + wav_u16(v >> 16); }
std::string wav_chunk(const std::string& id, const std::string& body) {
  return id + wav_u32(static_cast<uint32_t>(body.size())) + body + (body.size() % 2 ? std::string(1, '\0') : "");
}
std::string wav_fmt(uint16_t tag, uint16_t channels, uint32_t rate, uint16_t bits) {
  const uint16_t align = static_cast<uint16_t>(channels * bits / 8);
  return wav_u16(tag) + wav_u16(channels) + wav_u32(rate) + wav_u32(rate * align) + wav_u16(align) + wav_u16(bits);
}
std::string wav_riff(const std::string& chunks) {
  return "RIFF" + wav_u32(static_cast<uint32_t>(4 + chunks.size())) + "WAVE" + chunks;
}

std::vector<std::string> wav_seeds() {
  std::string bytes;  // a little ramp of 24 bytes, valid for every sample width
  for (int i = 0; i < 24; ++i) bytes += static_cast<char>(i * 23 + 5);
  const std::string guid("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71", 14);
  float fl[3] = {0.5f, -0.25f, 1.5f};
  double db[3] = {0.125, -1.0, 0.75};
  std::vector<std::string> seeds;
  seeds.push_back(data::write_wav(data::Wav{16000, {0.0f, 0.5f, -0.5f, 1.0f, -1.0f}}));
  seeds.push_back(wav_riff(wav_chunk("fmt ", wav_fmt(1, 1, 8000, 8)) + wav_chunk("data", bytes)));
  seeds.push_back(wav_riff(wav_chunk("fmt ", wav_fmt(1, 2, 44100, 24)) + wav_chunk("data", bytes)));
  seeds.push_back(wav_riff(wav_chunk("fmt ", wav_fmt(1, 3, 48000, 32)) + wav_chunk("data", bytes)));
  seeds.push_back(wav_riff(wav_chunk("fmt ", wav_fmt(3, 1, 22050, 32)) + wav_chunk("data", std::string(reinterpret_cast<char*>(fl), 12))));
  seeds.push_back(wav_riff(wav_chunk("fmt ", wav_fmt(3, 1, 22050, 64)) + wav_chunk("data", std::string(reinterpret_cast<char*>(db), 24))));
  seeds.push_back(wav_riff(wav_chunk("fmt ", wav_fmt(0xFFFE, 2, 16000, 16) + wav_u16(22) + wav_u16(16) + wav_u32(3) +
                                                 wav_u16(1) + guid) +
                           wav_chunk("LIST", "INFOabc") + wav_chunk("data", bytes)));
  // espeak-ng --stdout: RIFF size 0x7ffff024, data size 0x7ffff000, samples to the end of the stream
  seeds.push_back("RIFF" + wav_u32(0x7ffff024) + "WAVE" + wav_chunk("fmt ", wav_fmt(1, 1, 22050, 16)) + "data" +
                  wav_u32(0x7ffff000) + bytes);
  return seeds;
}

std::vector<std::string> seeds() {
  const std::string f = SEQNN_FUZZ_FORMAT;
  if (f == "wav") return wav_seeds();
  if (f == "npy") return npy_seeds();
  if (f == "idx") return idx_seeds();
  if (f == "mo") return mo_seeds();
  return safetensors_seeds();
}

// ==================================================================== mutations

struct Rng {  // splitmix64: deterministic everywhere
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
};

// Bytes that steer a JSON / Python-dict parser into interesting corners.
constexpr char kInteresting[] = "{}[]()\":,'-0123456789.eE \\\n\x00\xff\x80TrueFalse";

void mutate_once(std::string& s, const std::vector<std::string>& pool, Rng& r) {
  switch (r.below(9)) {
    case 0:  // bit flip
      if (!s.empty()) s[r.below(s.size())] ^= static_cast<char>(1u << r.below(8));
      break;
    case 1:  // set a byte to a random or interesting value
      if (!s.empty())
        s[r.below(s.size())] = r.below(2) ? static_cast<char>(r.next())
                                          : kInteresting[r.below(sizeof kInteresting - 1)];
      break;
    case 2:  // truncate
      s.resize(r.below(s.size() + 1));
      break;
    case 3:  // insert bytes
      s.insert(r.below(s.size() + 1), std::string(1 + r.below(8), kInteresting[r.below(sizeof kInteresting - 1)]));
      break;
    case 4:  // delete a range
      if (!s.empty()) {
        size_t at = r.below(s.size());
        s.erase(at, 1 + r.below(std::min<size_t>(16, s.size() - at)));
      }
      break;
    case 5: {  // length-field edit: the u64 header length (safetensors), the u16/u32 header length
               // (npy), a big-endian dimension (idx), a count / table offset / string offset (mo),
               // a RIFF / fmt / data size or fmt field (wav)
      const std::string f = SEQNN_FUZZ_FORMAT;
      size_t at = f == "npy" ? 8 : 0, width = f == "npy" ? 2 : 8;
      if (f == "idx") at = 4 + 4 * r.below(3), width = 4;
      if (f == "mo") at = 8 + 4 * r.below(s.size() >= 64 ? 12 : 5), width = 4;
      if (f == "wav") {  // the RIFF size, the fmt size or a fmt field, or the size after it
        const size_t wav_at[] = {4, 16, 20, 22, 24, 32, 34, 40};
        const size_t pick = r.below(8);
        at = wav_at[pick], width = (pick == 0 || pick == 1 || pick == 4 || pick == 7) ? 4 : 2;
      }
      if (s.size() >= at + width) {
        uint64_t v = 0;
        std::memcpy(&v, s.data() + at, width);
        const uint64_t choices[] = {v + 1, v - 1, v + r.below(64), v - r.below(64), 0, r.next(), ~0ull, s.size()};
        v = choices[r.below(8)];
        std::memcpy(s.data() + at, &v, width);
      }
      break;
    }
    case 6:  // replace a digit by another number (shapes, offsets)
      for (int tries = 0; tries < 16 && !s.empty(); ++tries) {
        size_t at = r.below(s.size());
        if (s[at] >= '0' && s[at] <= '9') {
          const char* nums[] = {"0", "1", "-1", "9223372036854775807", "18446744073709551616", "4294967296", "1.5", "99"};
          s.replace(at, 1, nums[r.below(8)]);
          break;
        }
      }
      break;
    case 7: {  // splice a piece of another seed
      const std::string& o = pool[r.below(pool.size())];
      if (!o.empty()) {
        size_t from = r.below(o.size());
        s.insert(r.below(s.size() + 1), o.substr(from, 1 + r.below(32)));
      }
      break;
    }
    default:  // duplicate a range (repeats keys, entries)
      if (!s.empty()) {
        size_t at = r.below(s.size());
        s.insert(at, s.substr(at, 1 + r.below(24)));
      }
      break;
  }
}

int run(const std::string& input) {
  return LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 20000;
  double seconds = 10;
  uint64_t seed = 1;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--iterations" && i + 1 < argc) {
      iterations = std::stol(argv[++i]);
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::stoull(argv[++i]);
    } else if (a == "--write-seeds" && i + 1 < argc) {
      std::filesystem::path dir = argv[++i];
      std::filesystem::create_directories(dir);
      auto s = seeds();
      for (size_t k = 0; k < s.size(); ++k) {
        std::ofstream out(dir / ("seed_" + std::to_string(k)), std::ios::binary);
        out.write(s[k].data(), static_cast<std::streamsize>(s[k].size()));
      }
      std::printf("wrote %zu seeds to %s\n", s.size(), dir.c_str());
      return 0;
    } else {
      files.push_back(a);
    }
  }
  if (!files.empty()) {  // reproduce given inputs
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      run(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
      std::printf("ok: %s\n", f.c_str());
    }
    return 0;
  }
  const std::vector<std::string> pool = seeds();
  for (const auto& s : pool) run(s);
  Rng r{seed};
  const auto start = std::chrono::steady_clock::now();
  long done = 0;
  for (; done < iterations; ++done) {
    if ((done & 255) == 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > seconds)
      break;
    std::string s = pool[r.below(pool.size())];
    const size_t edits = 1 + r.below(4);
    for (size_t k = 0; k < edits; ++k) mutate_once(s, pool, r);
    run(s);
  }
  std::printf("%s: %zu seeds + %ld mutated inputs, no failures\n", SEQNN_FUZZ_FORMAT, pool.size(), done);
  return 0;
}
