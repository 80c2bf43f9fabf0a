// src/io/mo.cpp: the gettext .mo parser and writer.
#include "seqnn/io/mo.h"

#include "io/file_io.h"

namespace seqnn::io {

namespace {
uint32_t bswap32(uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

struct Reader {
  std::string_view bytes;
  bool big;
  const std::string& name;
  uint32_t u32(uint64_t at) const {  // caller checked at + 4 <= size
    uint32_t v = detail::load_le<uint32_t>(bytes.data() + at);
    return big ? bswap32(v) : v;
  }
  // String `i` of the table at `table` ("original" / "translation"): {length, offset} at
  // table + 8 i, then length bytes + a NUL, all inside the file.
  std::string_view string(uint64_t table, uint32_t i, const char* which) const {
    const uint64_t size = bytes.size();
    const uint64_t at = table + 8 * uint64_t{i};
    const uint32_t len = u32(at), off = u32(at + 4);
    check(uint64_t{off} + len + 1 <= size, "mo", name, ": string ", i, " of the ", which, " table: bytes [", off, ", ",
          uint64_t{off} + len, ") + NUL lie past the end of the ", size, "-byte file");
    check(bytes[off + len] == '\0', "mo", name, ": string ", i, " of the ", which, " table (", len, " bytes at ", off,
          ") is not NUL-terminated");
    return bytes.substr(off, len);
  }
};

std::vector<std::string> split_nul(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t z = s.find('\0', start);
    if (z == std::string_view::npos) {
      out.emplace_back(s.substr(start));
      return out;
    }
    out.emplace_back(s.substr(start, z - start));
    start = z + 1;
  }
}

void put_u32(std::string& out, uint32_t v, bool big) {
  if (big) v = bswap32(v);
  out.append(reinterpret_cast<const char*>(&v), 4);
}
}  // namespace

// ==================================================================== parse
MoCatalog parse_mo(std::string_view bytes, const std::string& name) {
  const uint64_t size = bytes.size();
  check(size >= 28, "mo", name, ": ", size, " bytes is too short for the 28-byte header");
  MoCatalog c;
  const uint32_t magic = detail::load_le<uint32_t>(bytes.data());
  if (magic == kMoMagic) c.big_endian = false;
  else if (magic == bswap32(kMoMagic)) c.big_endian = true;
  else fail("mo", name, ": bad magic 0x", std::hex, magic, std::dec, " (expected 0x950412de in either byte order)");
  Reader r{bytes, c.big_endian, name};
  c.revision = r.u32(4);
  check((c.revision >> 16) <= 1, "mo", name, ": unsupported major revision ", c.revision >> 16, " (0 or 1)");
  const uint64_t n = r.u32(8), orig = r.u32(12), trans = r.u32(16), hsize = r.u32(20), hoff = r.u32(24);
  check(orig + 8 * n <= size, "mo", name, ": the original-string table (", n, " entries at ", orig,
        ") runs past the end of the ", size, "-byte file");
  check(trans + 8 * n <= size, "mo", name, ": the translation table (", n, " entries at ", trans,
        ") runs past the end of the ", size, "-byte file");
  check(hsize == 0 || hoff + 4 * hsize <= size, "mo", name, ": the hash table (", hsize, " entries at ", hoff,
        ") runs past the end of the ", size, "-byte file");
  c.entries.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    const std::string_view o = r.string(orig, i, "original-string");
    const std::string_view t = r.string(trans, i, "translation");
    MoEntry e;
    // "ctx\x04msgid\0plural": the context ends at the first \x04 before the first NUL
    const size_t nul = o.find('\0');
    std::string_view id = o.substr(0, nul);
    if (nul != std::string_view::npos) e.msgid_plural = std::string(o.substr(nul + 1));
    const size_t eot = id.find('\x04');
    if (eot != std::string_view::npos) {
      e.context = std::string(id.substr(0, eot));
      id = id.substr(eot + 1);
    }
    e.msgid = std::string(id);
    if (e.msgid.empty() && e.context.empty() && e.msgid_plural.empty()) {
      c.header = std::string(t);
      continue;
    }
    e.msgstr = split_nul(t);
    c.entries.push_back(std::move(e));
  }
  return c;
}

// ==================================================================== write
std::string write_mo(const MoCatalog& c, bool big) {
  std::vector<std::string> originals{""}, translations{c.header};
  for (const auto& e : c.entries) {
    // An empty context is written out when the msgid itself holds a \x04, or the reader would
    // take the msgid's prefix for a context (found by fuzz_mo's round trip).
    const bool ctx = !e.context.empty() || e.msgid.find('\x04') != std::string::npos;
    std::string o = ctx ? e.context + '\x04' + e.msgid : e.msgid;
    if (!e.msgid_plural.empty()) o += std::string(1, '\0') + e.msgid_plural;
    check(!(e.msgid.empty() && e.context.empty() && e.msgid_plural.empty()), "mo", "write: an entry with an empty "
          "msgid and no context is the header; set MoCatalog::header instead");
    std::string t;
    for (size_t k = 0; k < e.msgstr.size(); ++k) t += (k ? std::string(1, '\0') : std::string()) + e.msgstr[k];
    originals.push_back(std::move(o));
    translations.push_back(std::move(t));
  }
  const uint64_t n = originals.size();
  const uint64_t orig = 28, trans = orig + 8 * n;
  uint64_t data = trans + 8 * n;
  std::string out;
  put_u32(out, kMoMagic, big);
  put_u32(out, c.revision, big);
  put_u32(out, static_cast<uint32_t>(n), big);
  put_u32(out, static_cast<uint32_t>(orig), big);
  put_u32(out, static_cast<uint32_t>(trans), big);
  put_u32(out, 0, big);
  put_u32(out, static_cast<uint32_t>(data), big);
  std::string strings;
  auto table = [&](const std::vector<std::string>& v) {
    for (const auto& s : v) {
      check(data + strings.size() + s.size() + 1 <= 0xffffffffull, "mo", "write: catalog exceeds 4 GiB");
      put_u32(out, static_cast<uint32_t>(s.size()), big);
      put_u32(out, static_cast<uint32_t>(data + strings.size()), big);
      strings += s;
      strings.push_back('\0');
    }
  };
  table(originals);
  table(translations);
  return out + strings;
}

MoCatalog load_mo(const std::filesystem::path& path) {
  return parse_mo(detail::read_file(path, "mo"), path.string());
}

}  // namespace seqnn::io
