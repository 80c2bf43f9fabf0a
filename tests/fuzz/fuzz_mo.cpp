// Fuzz target: the gettext .mo parser.
//
// Any input must either parse or throw seqnn::Error; anything else is a bug. What parses must
// survive a write/parse round trip in both byte orders with every field unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "seqnn/io/mo.h"

namespace {
bool same(const seqnn::io::MoCatalog& a, const seqnn::io::MoCatalog& b) {
  if (a.revision != b.revision || a.header != b.header || a.entries.size() != b.entries.size()) return false;
  for (size_t i = 0; i < a.entries.size(); ++i) {
    const auto &x = a.entries[i], &y = b.entries[i];
    if (x.context != y.context || x.msgid != y.msgid || x.msgid_plural != y.msgid_plural || x.msgstr != y.msgstr)
      return false;
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  seqnn::io::MoCatalog c;
  try {
    c = seqnn::io::parse_mo(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  } catch (const seqnn::Error&) {
    return 0;  // rejected with a message: fine
  }
  for (bool big : {false, true}) {
    const seqnn::io::MoCatalog back = seqnn::io::parse_mo(seqnn::io::write_mo(c, big), "roundtrip");
    if (back.big_endian != big || !same(back, c)) std::abort();
  }
  return 0;
}
