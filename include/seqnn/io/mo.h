// seqnn/io/mo.h: GNU gettext message catalogs (.mo), parsed and validated.
//
// Layout (all u32 in the file's byte order, told by the magic):
//   0  magic 0x950412de          (read as 0xde120495: the other byte order)
//   4  revision                  major (rev >> 16) 0 or 1
//   8  N                         number of strings
//   12 O  offset of the original-string table   (N entries of {length, offset})
//   16 T  offset of the translation table       (N entries of {length, offset})
//   20 S  hash table size, 24 H its offset      (S u32; checked to lie in the file, not used)
// Every string is `length` bytes at `offset` followed by a NUL. parse_mo() checks every table and
// every string against the file size (in 64-bit arithmetic, so nothing wraps) before reading it:
//   "mo: de/coreutils.mo: string 12 of the translation table: bytes [90000, 90021) + NUL lie past
//    the end of the 65536-byte file"
// Plural entries hold "msgid\0msgid_plural" and "form0\0form1\0..."; a context is "ctx\x04msgid".
// Both are split into the fields below. The header entry (msgid "") is kept in `header`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "seqnn/error.h"

namespace seqnn::io {

struct MoEntry {
  std::string context;                 // msgctxt ("" when none)
  std::string msgid;
  std::string msgid_plural;            // "" unless a plural entry
  std::vector<std::string> msgstr;     // one form, or one per plural form
  bool is_plural() const { return !msgid_plural.empty(); }
};

struct MoCatalog {
  bool big_endian = false;
  uint32_t revision = 0;
  std::string header;                  // the msgstr of msgid "" (Content-Type, Plural-Forms, ...)
  std::vector<MoEntry> entries;        // every other entry, in file order
};

constexpr uint32_t kMoMagic = 0x950412deu;

MoCatalog parse_mo(std::string_view bytes, const std::string& name = "mo");
// A valid .mo image (no hash table) in either byte order; parse_mo(write_mo(c)) == c (strings
// must not contain NUL, contexts not \x04).
std::string write_mo(const MoCatalog& catalog, bool big_endian = false);
// Reads and parses a file; a missing file is an Error naming it.
MoCatalog load_mo(const std::filesystem::path& path);

}  // namespace seqnn::io
