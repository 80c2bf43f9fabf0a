// tests/test_datasets.cpp: the IDX and .mo readers on hand-built files (valid, truncated,
// corrupt, overflowing), the Fashion-MNIST views, the language-ID dataset's cleaning and its
// split by program, config errors, missing files (a clear error and no checkpoint), and a short
// end-to-end Fashion-MNIST training run on the installed dataset.
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <fstream>
#include <map>
#include <set>

#include "common/check.h"
#include "seqnn/data/dataset.h"
#include "seqnn/data/fashion_mnist.h"
#include "seqnn/data/langid.h"
#include "seqnn/io/idx.h"
#include "seqnn/io/mo.h"
#include "seqnn/threads.h"
#include "seqnn/train/config.h"
#include "seqnn/train/trainer.h"

using namespace seqnn;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ==================================================================== helpers
void write_file(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << s;
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// An IDX file by hand: magic 00 00 type rank, big-endian dims, then `data` as given.
std::string idx_raw(uint8_t type, const std::vector<uint32_t>& dims, const std::string& data) {
  std::string s{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) s += be32(d);
  return s + data;
}

std::string gzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A .mo file by hand (not io::write_mo): `pairs` of (original, translation) in the given byte
// order, strings after the two tables.
std::string mo_raw(const std::vector<std::pair<std::string, std::string>>& pairs, bool big, uint32_t revision = 0) {
  auto u32 = [&](uint32_t v) {
    std::string s(4, '\0');
    for (int k = 0; k < 4; ++k) s[big ? 3 - k : k] = static_cast<char>(v >> (8 * k));
    return s;
  };
  const uint32_t n = static_cast<uint32_t>(pairs.size());
  const uint32_t orig = 28, trans = orig + 8 * n, data = trans + 8 * n;
  std::string head = u32(0x950412de) + u32(revision) + u32(n) + u32(orig) + u32(trans) + u32(0) + u32(data);
  std::string tables, strings;
  for (int which = 0; which < 2; ++which)
    for (const auto& p : pairs) {
      const std::string& s = which == 0 ? p.first : p.second;
      tables += u32(static_cast<uint32_t>(s.size())) + u32(data + static_cast<uint32_t>(strings.size()));
      strings += s + std::string(1, '\0');
    }
  return head + tables + strings;
}

std::string with_u32_le(std::string s, size_t at, uint32_t v) {
  s.replace(at, 4, std::string(reinterpret_cast<const char*>(&v), 4));
  return s;
}

std::vector<uint8_t> test_image() {  // pixel(r, c) = (r * 28 + c) % 251
  std::vector<uint8_t> px(28 * 28);
  for (int i = 0; i < 28 * 28; ++i) px[i] = static_cast<uint8_t>(i % 251);
  return px;
}

// A fake Fashion-MNIST directory: n_train + n_test images of `side`x`side`.
void write_fashion_dir(const fs::path& dir, uint32_t n_train, uint32_t n_test, uint32_t n_train_labels,
                       uint8_t label_value = 3, bool compress = true) {
  for (auto [prefix, n, nl] : {std::tuple{"train", n_train, n_train_labels}, std::tuple{"t10k", n_test, n_test}}) {
    std::string px(static_cast<size_t>(n) * 28 * 28, '\x7f'), lab(nl, static_cast<char>(label_value));
    std::string images = idx_raw(0x08, {n, 28, 28}, px), labels = idx_raw(0x08, {nl}, lab);
    const std::string ext = compress ? ".gz" : "";
    write_file(dir / (std::string(prefix) + "-images-idx3-ubyte" + ext), compress ? gzip(images) : images);
    write_file(dir / (std::string(prefix) + "-labels-idx1-ubyte" + ext), compress ? gzip(labels) : labels);
  }
}

bool has_checkpoint(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return false;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors" || e.path().filename() == "summary.json") return true;
  return false;
}

}  // namespace

// ==================================================================== IDX
TEST(Idx, ReadsHandBuiltFilesOfEveryType) {
  io::IdxArray a = io::read_idx(idx_raw(0x08, {2, 2, 3}, std::string("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\xff", 12)));
  EXPECT_EQ(a.type, io::IdxType::U8);
  EXPECT_EQ(a.shape, (Shape{2, 2, 3}));
  EXPECT_EQ(a.numel(), 12);
  EXPECT_EQ(a.u8()[4], 4);
  EXPECT_EQ(a.at(11), 255.0);
  // big-endian multi-byte elements
  io::IdxArray b = io::read_idx(idx_raw(0x0C, {2}, std::string("\x00\x00\x01\x02\xff\xff\xff\xfe", 8)));
  EXPECT_EQ(b.at(0), 258.0);
  EXPECT_EQ(b.at(1), -2.0);
  io::IdxArray f = io::read_idx(idx_raw(0x0D, {1}, std::string("\x3f\xc0\x00\x00", 4)));  // 1.5f
  EXPECT_EQ(f.at(0), 1.5);
  io::IdxArray d = io::read_idx(idx_raw(0x0E, {1}, std::string("\xc0\x04\x00\x00\x00\x00\x00\x00", 8)));  // -2.5
  EXPECT_EQ(d.at(0), -2.5);
  io::IdxArray s = io::read_idx(idx_raw(0x0B, {1}, std::string("\xff\x9c", 2)));  // -100
  EXPECT_EQ(s.at(0), -100.0);
  io::IdxArray i8 = io::read_idx(idx_raw(0x09, {1}, "\x80"));
  EXPECT_EQ(i8.at(0), -128.0);
  testutil::expect_error([&] { (void)b.u8(); }, "idx", "holds i32, not u8");
  // an empty dimension is legal
  EXPECT_EQ(io::read_idx(idx_raw(0x08, {0, 28, 28}, "")).numel(), 0);
  // write -> read is the identity
  io::IdxArray back = io::read_idx(io::write_idx(b));
  EXPECT_EQ(back.bytes, b.bytes);
  EXPECT_EQ(back.shape, b.shape);
}

TEST(Idx, RejectsCorruptFilesWithClearErrors) {
  const std::string good = idx_raw(0x08, {2, 3}, "abcdef");
  testutil::expect_error([&] { io::read_idx(good.substr(0, 3), "f"); }, "idx", "too short for the 4-byte magic");
  testutil::expect_error([&] { io::read_idx("\x01" + good.substr(1), "f"); }, "idx", "f: bad magic 1 0");
  testutil::expect_error([&] { io::read_idx(idx_raw(0x07, {2, 3}, "abcdef"), "f"); }, "idx",
                         "unknown element type code 0x7");
  testutil::expect_error([&] { io::read_idx(idx_raw(0x08, {}, ""), "f"); }, "idx", "rank 0 must be in [1,8]");
  testutil::expect_error([&] { io::read_idx(good.substr(0, 10), "f"); }, "idx", "truncated header: 10 bytes");
  testutil::expect_error([&] { io::read_idx(good.substr(0, good.size() - 1), "f"); }, "idx",
                         "a (2,3) u8 array needs more than the 5 bytes");
  testutil::expect_error([&] { io::read_idx(good + "x", "f"); }, "idx",
                         "needs 6 bytes after the 12-byte header, the file has 7 (trailing bytes)");
  testutil::expect_error([&] { io::read_idx(idx_raw(0x0E, {2}, std::string(15, 'x')), "f"); }, "idx",
                         "needs more than the 15 bytes");
  // dimensions whose product overflows 64 bits: rejected, nothing allocated
  testutil::expect_error([&] { io::read_idx(idx_raw(0x0E, {0xffffffffu, 0xffffffffu, 0xffffffffu, 5}, "abcd"), "f"); },
                         "idx", "(4294967295,4294967295,4294967295,5) f64 array needs more than the 4 bytes");
  // a zero dimension after huge ones: numel 0, but only with no data following
  EXPECT_EQ(io::read_idx(idx_raw(0x08, {0xffffffffu, 0}, "")).numel(), 0);
}

TEST(Idx, GzipFilesAndMissingFiles) {
  const fs::path dir = testutil::scratch_dir("datasets", "idx_gz");
  const std::string raw = idx_raw(0x08, {3}, "\x01\x02\x03");
  write_file(dir / "a.gz", gzip(raw));
  write_file(dir / "a", raw);
  EXPECT_EQ(io::load_idx(dir / "a.gz").bytes, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(io::load_idx(dir / "a").bytes, (std::vector<uint8_t>{1, 2, 3}));
  // concatenated gzip members inflate to the concatenation
  EXPECT_EQ(io::gunzip(gzip("ab") + gzip("cd")), "abcd");
  const std::string gz = gzip(raw);
  write_file(dir / "trunc.gz", gz.substr(0, gz.size() - 6));
  testutil::expect_error([&] { io::load_idx(dir / "trunc.gz"); }, "gzip", "trunc.gz: truncated gzip stream");
  std::string bad = gz;
  bad[12] ^= 0x55;
  write_file(dir / "bad.gz", bad);
  EXPECT_NE(testutil::error_of([&] { io::load_idx(dir / "bad.gz"); }).find("bad.gz"), std::string::npos);
  testutil::expect_error([&] { io::gunzip(gzip(std::string(5000, 'z')), "bomb", 4096); }, "gzip",
                         "bomb: inflates to more than 4096 bytes");
  testutil::expect_error([&] { io::load_idx(dir / "nope.gz"); }, "idx", "nope.gz");
}

// ==================================================================== .mo
TEST(Mo, ParsesBothByteOrdersWithContextsAndPlurals) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"", "Content-Type: text/plain; charset=UTF-8\n"},
      {"Open", "\xc3\x96""ffnen"},
      {std::string("%d file\0%d files", 16), std::string("%d Datei\0%d Dateien", 19)},
      {"menu\x04Quit", "Beenden"},
  };
  for (bool big : {false, true}) {
    SCOPED_TRACE(big ? "big-endian" : "little-endian");
    io::MoCatalog c = io::parse_mo(mo_raw(pairs, big, 1), "t.mo");
    EXPECT_EQ(c.big_endian, big);
    EXPECT_EQ(c.revision, 1u);
    EXPECT_EQ(c.header, "Content-Type: text/plain; charset=UTF-8\n");
    ASSERT_EQ(c.entries.size(), 3u);
    EXPECT_EQ(c.entries[0].msgid, "Open");
    EXPECT_EQ(c.entries[0].msgstr, (std::vector<std::string>{"\xc3\x96""ffnen"}));
    EXPECT_FALSE(c.entries[0].is_plural());
    EXPECT_EQ(c.entries[1].msgid, "%d file");
    EXPECT_EQ(c.entries[1].msgid_plural, "%d files");
    EXPECT_EQ(c.entries[1].msgstr, (std::vector<std::string>{"%d Datei", "%d Dateien"}));
    EXPECT_EQ(c.entries[2].context, "menu");
    EXPECT_EQ(c.entries[2].msgid, "Quit");
    // write_mo gives a file that parses to the same catalog, in either order
    for (bool big2 : {false, true}) {
      io::MoCatalog back = io::parse_mo(io::write_mo(c, big2));
      EXPECT_EQ(back.big_endian, big2);
      ASSERT_EQ(back.entries.size(), c.entries.size());
      EXPECT_EQ(back.header, c.header);
      for (size_t i = 0; i < c.entries.size(); ++i) {
        EXPECT_EQ(back.entries[i].msgid, c.entries[i].msgid);
        EXPECT_EQ(back.entries[i].msgid_plural, c.entries[i].msgid_plural);
        EXPECT_EQ(back.entries[i].context, c.entries[i].context);
        EXPECT_EQ(back.entries[i].msgstr, c.entries[i].msgstr);
      }
    }
  }
  EXPECT_TRUE(io::parse_mo(mo_raw({}, false)).entries.empty());
}

TEST(Mo, RejectsCorruptCatalogs) {
  const std::string good = mo_raw({{"a", "b"}, {"cc", "dd"}}, false);
  io::parse_mo(good);  // sanity
  testutil::expect_error([&] { io::parse_mo(good.substr(0, 27), "x.mo"); }, "mo", "x.mo: 27 bytes is too short");
  testutil::expect_error([&] { io::parse_mo(with_u32_le(good, 0, 0x12345678), "x.mo"); }, "mo",
                         "x.mo: bad magic 0x12345678");
  testutil::expect_error([&] { io::parse_mo(with_u32_le(good, 4, 0x20000), "x.mo"); }, "mo",
                         "unsupported major revision 2");
  // N so large that N * 8 would wrap a 32-bit offset: checked in 64 bits
  testutil::expect_error([&] { io::parse_mo(with_u32_le(good, 8, 0xffffffffu), "x.mo"); }, "mo",
                         "the original-string table (4294967295 entries at 28) runs past the end");
  testutil::expect_error([&] { io::parse_mo(with_u32_le(good, 16, 0xfffffff0u), "x.mo"); }, "mo",
                         "the translation table (2 entries at 4294967280) runs past the end");
  io::parse_mo(with_u32_le(good, 24, 0xfffffff0u));  // no hash table (S = 0): its offset is not used
  testutil::expect_error([&] { io::parse_mo(with_u32_le(with_u32_le(good, 20, 0x40000000u), 24, 0xfffffff0u), "x.mo"); },
                         "mo", "the hash table (1073741824 entries at 4294967280) runs past the end");
  // string 1 of the original table (entry at 28 + 8): offset past the end
  testutil::expect_error([&] { io::parse_mo(with_u32_le(good, 28 + 8 + 4, 0xfffffffeu), "x.mo"); }, "mo",
                         "string 1 of the original-string table: bytes [4294967294, 4294967296) + NUL lie past the end");
  // length past the end
  testutil::expect_error([&] { io::parse_mo(with_u32_le(good, 28 + 16, 0xffffffffu), "x.mo"); }, "mo",
                         "string 0 of the translation table");
  // a string whose terminating NUL is missing
  std::string nonul = good;
  nonul[nonul.size() - 1] = 'X';
  testutil::expect_error([&] { io::parse_mo(nonul, "x.mo"); }, "mo", "is not NUL-terminated");
  testutil::expect_error([&] { io::load_mo("/nonexistent/zz.mo"); }, "mo", "zz.mo");
}

// ==================================================================== Fashion-MNIST views
TEST(FashionMnist, RowsView) {
  const auto px = test_image();
  data::Example e = data::image_to_example(px.data(), 28, 28, "rows", 4);
  EXPECT_EQ(e.feature_dim, 28);
  EXPECT_EQ(e.length(), 28);
  ASSERT_EQ(e.features.size(), 784u);
  for (int r = 0; r < 28; ++r)
    for (int c = 0; c < 28; ++c) EXPECT_FLOAT_EQ(e.features[r * 28 + c], px[r * 28 + c] / 255.0f);
}

TEST(FashionMnist, PatchesView) {
  const auto px = test_image();
  data::Example e = data::image_to_example(px.data(), 28, 28, "patches", 4);
  EXPECT_EQ(e.feature_dim, 16);
  EXPECT_EQ(e.length(), 49);
  for (int pr = 0; pr < 7; ++pr)
    for (int pc = 0; pc < 7; ++pc)
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          ASSERT_FLOAT_EQ(e.features[(pr * 7 + pc) * 16 + i * 4 + j], px[(pr * 4 + i) * 28 + pc * 4 + j] / 255.0f);
  // patch 1 (top row, second column) starts with pixel (0, 4)
  EXPECT_FLOAT_EQ(e.features[16], px[4] / 255.0f);
  data::Example e7 = data::image_to_example(px.data(), 28, 28, "patches", 7);
  EXPECT_EQ(e7.feature_dim, 49);
  EXPECT_EQ(e7.length(), 16);
  testutil::expect_error([&] { data::image_to_example(px.data(), 28, 28, "patches", 5); }, "fashion_mnist",
                         "data.patch_size 5 must divide the 28x28 image");
  testutil::expect_error([&] { data::image_to_example(px.data(), 28, 28, "cols", 4); }, "fashion_mnist",
                         "data.view must be rows or patches");
}

TEST(FashionMnist, LoaderChecksFilesAndSplits) {
  const fs::path dir = testutil::scratch_dir("datasets", "fm_fake");
  write_fashion_dir(dir / "ok", 10, 4, 10);
  data::FashionMnistOptions o;
  o.dir = (dir / "ok").string();
  o.valid_size = 3;
  data::Dataset d = data::make_fashion_mnist(o);
  EXPECT_EQ(d.train.size(), 7u);
  EXPECT_EQ(d.valid.size(), 3u);
  EXPECT_EQ(d.test.size(), 4u);
  EXPECT_EQ(d.feature_dim, 28);
  EXPECT_EQ(d.labels.size(), 10u);
  EXPECT_EQ(d.train[0].label, "Dress");
  EXPECT_FLOAT_EQ(d.train[0].features[0], 127.0f / 255.0f);
  o.view = "patches";
  o.max_train = 2;
  o.max_test = 1;
  d = data::make_fashion_mnist(o);
  EXPECT_EQ(d.train.size(), 2u);
  EXPECT_EQ(d.test.size(), 1u);
  EXPECT_EQ(d.feature_dim, 16);
  EXPECT_EQ(d.train[0].length(), 49);
  // uncompressed files work too
  write_fashion_dir(dir / "raw", 5, 2, 5, 0, false);
  o = {};
  o.dir = (dir / "raw").string();
  o.valid_size = 1;
  EXPECT_EQ(data::make_fashion_mnist(o).train.size(), 4u);
  // label count != image count
  write_fashion_dir(dir / "counts", 10, 4, 9);
  o.dir = (dir / "counts").string();
  testutil::expect_error([&] { data::make_fashion_mnist(o); }, "fashion_mnist", "holds 9 labels but");
  // label out of range
  write_fashion_dir(dir / "label", 10, 4, 10, 10);
  o.dir = (dir / "label").string();
  testutil::expect_error([&] { data::make_fashion_mnist(o); }, "fashion_mnist", "label 10 of item 0 is not in [0,10)");
  // truncated image file
  write_fashion_dir(dir / "trunc", 10, 4, 10);
  const std::string full = idx_raw(0x08, {10, 28, 28}, std::string(10 * 784, 'x'));
  write_file(dir / "trunc" / "train-images-idx3-ubyte.gz", gzip(full.substr(0, full.size() - 100)));
  o.dir = (dir / "trunc").string();
  testutil::expect_error([&] { data::make_fashion_mnist(o); }, "idx", "train-images-idx3-ubyte.gz: a (10,28,28) u8 array");
  // valid split larger than the file
  o.dir = (dir / "ok").string();
  o.valid_size = 10;
  testutil::expect_error([&] { data::make_fashion_mnist(o); }, "fashion_mnist", "leaves no training images");
  // missing directory
  o.dir = (dir / "missing").string();
  testutil::expect_error([&] { data::make_fashion_mnist(o); }, "fashion_mnist", "install Debian's dataset-fashion-mnist");
}

// ==================================================================== language ID
TEST(LangId, CleaningAndHelpers) {
  EXPECT_EQ(data::clean_ui_string("_Datei \xc3\xb6""ffnen"), "Datei \xc3\xb6""ffnen");
  EXPECT_EQ(data::clean_ui_string("\xc3\x96_ffnen Save &As"), "\xc3\x96""ffnen Save As");
  EXPECT_EQ(data::clean_ui_string("&Open %s\n  file %1$d of %-10lu: {name} 100%%"), "Open file of : 100");
  EXPECT_EQ(data::clean_ui_string("  a   b  "), "a b");
  EXPECT_EQ(data::clean_ui_string("%s"), "");
  EXPECT_EQ(data::clean_ui_string("snake_case stays, {not a placeholder}"), "snake_case stays, {not a placeholder}");
  EXPECT_EQ(data::utf8_chars("a\xc3\xa9\xe2\x82\xac"), (std::vector<std::string>{"a", "\xc3\xa9", "\xe2\x82\xac"}));
  EXPECT_EQ(data::utf8_chars("\xc3"), (std::vector<std::string>{"\xef\xbf\xbd"}));
  EXPECT_EQ(data::program_family("gtk20-properties"), "gtk");
  EXPECT_EQ(data::program_family("gtk30"), "gtk");
  EXPECT_EQ(data::program_family("dpkg-dev"), "dpkg");
  EXPECT_EQ(data::program_family("Linux-PAM"), "linux");
  EXPECT_EQ(data::program_family("coreutils"), "coreutils");
  EXPECT_EQ(data::parse_language_list(" de, fr,pt_BR"), (std::vector<std::string>{"de", "fr", "pt_BR"}));
  // what `seqnn predict` feeds a langid model: characters of the cleaned text
  EXPECT_EQ(data::input_tokens({{"dataset", "langid"}, {"langid_max_chars", 4}}, "_\xc3\x96""ffnen %s"),
            (std::vector<std::string>{"\xc3\x96", "f", "f", "n"}));
  EXPECT_EQ(data::input_tokens({{"dataset", "booking"}}, "Leave Taipei"), (std::vector<std::string>{"leave", "taipei"}));
  testutil::expect_error([] { data::parse_language_list("de,,fr"); }, "langid", "has an empty item");
  testutil::expect_error([] { data::parse_language_list("de"); }, "langid", "at least two languages");
  testutil::expect_error([] { data::parse_language_list("de,../x"); }, "langid", "is not a language code");
  testutil::expect_error([] { data::parse_language_list("de,de"); }, "langid", "appears twice");
}

namespace {
// A locale tree with languages aa and bb, 16 programs each; every string names its program
// ("<prog> <lang> word word ...") so each example can be traced back to its catalog.
fs::path make_locale_tree(const std::string& name) {
  const fs::path root = testutil::scratch_dir("datasets", name);
  for (const std::string lang : {"aa", "bb"})
    for (int p = 0; p < 16; ++p) {
      // pairs of programs of one family: prog<p>-core and prog<p>-extra<2>
      for (const std::string part : {"-core", "-extra2"}) {
        const std::string domain = "prog" + std::string(1, static_cast<char>('a' + p)) + part;
        std::vector<std::pair<std::string, std::string>> pairs = {{"", "Content-Type: text/plain\n"}};
        for (int k = 0; k < 5; ++k) {
          const std::string id = "msg " + std::to_string(k) + " of " + domain;
          pairs.push_back({id, domain + " " + lang + " zzyzx words number " + std::to_string(k)});
        }
        pairs.push_back({"Same", "Same"});               // untranslated: dropped
        pairs.push_back({"short", "ok"});                // too few letters: dropped
        pairs.push_back({std::string("one\0many", 8),  // plural: the first form is used
                         lang + " plural form one of " + domain + std::string(1, '\0') + lang + " other forms"});
        write_file(root / lang / "LC_MESSAGES" / (domain + ".mo"), mo_raw(pairs, p % 2 == 1));
      }
    }
  return root;
}

std::string program_of(const data::Example& e) {
  std::string s;
  for (const auto& c : e.tokens) s += c;
  const size_t at = s.find("prog");
  return at == std::string::npos ? "" : s.substr(at, 5);  // "progX": the family
}
}  // namespace

TEST(LangId, SplitsByProgramDeterministically) {
  const fs::path root = make_locale_tree("locale");
  data::LangIdOptions o;
  o.locale_dir = root.string();
  o.languages = {"aa", "bb"};
  o.test_fraction = 0.3;
  o.valid_fraction = 0.2;
  o.max_chars = 200;
  const data::Dataset d = data::make_langid(o);
  EXPECT_EQ(d.kind, data::TaskKind::Classification);
  EXPECT_EQ(d.labels, (std::vector<std::string>{"aa", "bb"}));
  ASSERT_FALSE(d.train.empty());
  ASSERT_FALSE(d.valid.empty());
  ASSERT_FALSE(d.test.empty());
  std::set<std::string> progs[3];
  const std::vector<data::Example>* splits[3] = {&d.train, &d.valid, &d.test};
  for (int s = 0; s < 3; ++s)
    for (const auto& e : *splits[s]) {
      const std::string p = program_of(e);
      ASSERT_FALSE(p.empty());
      progs[s].insert(p);
      // the string's language is its label
      std::string text;
      for (const auto& c : e.tokens) text += c;
      EXPECT_TRUE(text.find(" " + e.label + " ") != std::string::npos || text.rfind(e.label + " plural", 0) == 0)
          << text;
      EXPECT_EQ(text.find("other forms"), std::string::npos);
      EXPECT_EQ(text.find("Same"), std::string::npos);
    }
  for (int a = 0; a < 3; ++a)
    for (int b = a + 1; b < 3; ++b)
      for (const auto& p : progs[a]) EXPECT_EQ(progs[b].count(p), 0u) << p << " in splits " << a << " and " << b;
  // both catalogs of a family (progX-core, progX-extra2) land together: 16 families, 6 strings each per catalog
  EXPECT_EQ(d.train.size() + d.valid.size() + d.test.size(), 2u * 16 * 2 * 6);
  // deterministic; a different seed gives a different split
  const data::Dataset again = data::make_langid(o);
  ASSERT_EQ(again.train.size(), d.train.size());
  for (size_t i = 0; i < d.train.size(); ++i) EXPECT_EQ(again.train[i].tokens, d.train[i].tokens);
  // caps per language
  o.max_per_language = 8;
  const data::Dataset capped = data::make_langid(o);
  EXPECT_EQ(capped.train.size(), 16u);
  // length rules
  o.max_per_language = 3000;
  o.max_chars = 10;
  for (const auto& e : data::make_langid(o).train) EXPECT_LE(e.tokens.size(), 10u);
}

TEST(LangId, MissingLanguagesAndCorruptCatalogs) {
  const fs::path root = make_locale_tree("locale_bad");
  data::LangIdOptions o;
  o.locale_dir = root.string();
  o.languages = {"aa", "zz"};
  testutil::expect_error([&] { data::make_langid(o); }, "langid",
                         "no .mo catalogs for language \"zz\" in " + (root / "zz" / "LC_MESSAGES").string() +
                             "; languages with catalogs here: aa, bb");
  write_file(root / "bb" / "LC_MESSAGES" / "broken.mo", "\xde\xad\xbe\xef" + std::string(40, '\0'));
  o.languages = {"aa", "bb"};
  testutil::expect_error([&] { data::make_langid(o); }, "mo", "broken.mo: bad magic 0xefbeadde");
}

// ==================================================================== config, missing files, training
TEST(DatasetConfig, FieldsAreRegisteredAndChecked) {
  const json def = train::default_config();
  EXPECT_EQ(def["data"]["view"], "rows");
  EXPECT_EQ(def["data"]["fashion_valid"], 5000);
  EXPECT_EQ(def["data"]["languages"], "de,fr,es,it,nl,pt,pl,sv,cs,fi");
  auto err = [](const json& user) {
    try {
      train::resolve_config(user);
    } catch (const train::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  EXPECT_EQ(err({{"data", {{"view", "cols"}}}}), "config: data.view: must be one of rows, patches, got \"cols\"");
  EXPECT_EQ(err({{"data", {{"languages", json::array({"de", "fr"})}}}}),
            "config: data.languages: expected string, got array [\"de\",\"fr\"]");
  EXPECT_EQ(err({{"data", {{"patch_size", "4"}}}}), "config: data.patch_size: expected integer, got string \"4\"");
  EXPECT_EQ(err({{"data", {{"dataset", "fashion"}}}}).rfind("config: data.dataset: must be one of", 0), 0u);
  const std::vector<std::string> names = data::dataset_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "fashion_mnist"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "langid"), names.end());
}

TEST(DatasetConfig, MissingOrCorruptFilesFailCleanlyWithoutCheckpoints) {
  const fs::path dir = testutil::scratch_dir("datasets", "missing");
  auto attempt = [&](const json& data_cfg, const std::string& run) {
    train::TrainOptions o;
    o.config = train::resolve_config({{"data", data_cfg}, {"train", {{"epochs", 1}}}});
    o.run_dir = dir / run;
    std::ostringstream log;
    o.log = &log;
    std::string msg = "<no error>";
    try {
      train::run_training(o);
    } catch (const train::ConfigError& e) {
      msg = e.what();
    }
    EXPECT_FALSE(has_checkpoint(dir / run)) << run;
    return msg;
  };
  std::string m = attempt({{"dataset", "fashion_mnist"}, {"fashion_dir", (dir / "nowhere").string()}}, "r1");
  EXPECT_NE(m.find("config: data: fashion_mnist: missing " + (dir / "nowhere" / "train-images-idx3-ubyte.gz").string()),
            std::string::npos) << m;
  write_fashion_dir(dir / "fm", 10, 4, 10);
  write_file(dir / "fm" / "t10k-labels-idx1-ubyte.gz", gzip(idx_raw(0x08, {4}, "\x01\x02")));
  m = attempt({{"dataset", "fashion_mnist"}, {"fashion_dir", (dir / "fm").string()}, {"fashion_valid", 2}}, "r2");
  EXPECT_NE(m.find("t10k-labels-idx1-ubyte.gz: a (4) u8 array needs more than the 2 bytes"), std::string::npos) << m;
  m = attempt({{"dataset", "langid"}, {"locale_dir", (dir / "noloc").string()}}, "r3");
  EXPECT_NE(m.find("no .mo catalogs for language \"de\""), std::string::npos) << m;
  m = attempt({{"dataset", "langid"}, {"languages", "de,,fr"}}, "r4");
  EXPECT_NE(m.find("data.languages \"de,,fr\" has an empty item"), std::string::npos) << m;
}

// The installed dataset (build.sh installs dataset-fashion-mnist): a row-LSTM on 2000 images.
TEST(FashionMnist, ShortTrainingOnTheInstalledDatasetLearns) {
  train::TrainOptions o;
  o.config = train::resolve_config(json::parse(R"({
    "data": {"dataset": "fashion_mnist", "max_train": 2000, "fashion_valid": 500, "max_test": 1000},
    "model": {"kind": "classifier", "embedding_dim": 32, "dropout": 0.0, "pooling": "mean",
              "encoder": {"type": "lstm", "hidden_size": 48, "bidirectional": false}},
    "optimizer": {"type": "adam", "lr": 0.01}, "schedule": {"type": "none"},
    "train": {"epochs": 3, "batch_size": 32, "clip_grad_norm": 0.0, "checkpoint_every": 0,
              "early_stopping_patience": 0}})"));
  o.run_dir = testutil::scratch_dir("datasets", "fm_train");
  std::ostringstream log;
  o.log = &log;
  o.progress_bar = false;
  // One thread: on a 2-core machine shared with other jobs, a 2-thread run spends most of its
  // time waiting for a descheduled thread at every parallel region (1 s vs 12-100 s measured).
  const int threads = num_threads();
  set_num_threads(1);
  const auto t0 = std::chrono::steady_clock::now();
  const json s = train::run_training(o);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  set_num_threads(threads);
  std::printf("fashion_mnist 2000 images x 3 epochs: test accuracy %.4f in %.1f s\n",
              s["test.accuracy"].get<double>(), secs);
  EXPECT_GE(s["test.accuracy"].get<double>(), 0.6) << log.str();
  EXPECT_TRUE(fs::exists(o.run_dir / "best.safetensors"));
}

// ==================================================================== fuzz regressions
// libFuzzer found both (ctest -L fuzz in the clang build): a zero dimension next to huge ones
// made numel() overflow int64 before it reached the zero, and an empty context was dropped on
// write when the msgid holds a \x04, so the reader split the msgid into a context.
TEST(FuzzRegression, IdxZeroDimNextToHugeOnes) {
  std::string b("\0\0\x08\x04", 4);
  for (uint32_t d : {0x7fffffffu, 0x7fffffffu, 0x7fffffffu, 0u})
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>((d >> s) & 0xff));
  const io::IdxArray a = io::read_idx(b, "t");
  EXPECT_EQ(a.numel(), 0);
  io::IdxArray bad;
  bad.shape = {int64_t{1} << 40, int64_t{1} << 40};
  testutil::expect_error([&] { (void)bad.numel(); }, "idx", "element count");
}

TEST(FuzzRegression, MoEmptyContextWithSeparatorInMsgidRoundTrips) {
  io::MoCatalog c;
  io::MoEntry e;
  e.msgid = std::string("a\x04") + "b";
  e.msgstr = {"x"};
  c.entries.push_back(e);
  for (bool big : {false, true}) {
    const io::MoCatalog back = io::parse_mo(io::write_mo(c, big), "t");
    ASSERT_EQ(back.entries.size(), 1u);
    EXPECT_EQ(back.entries[0].context, "");
    EXPECT_EQ(back.entries[0].msgid, e.msgid);
  }
}
