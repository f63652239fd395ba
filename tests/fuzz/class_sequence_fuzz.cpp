// Fuzzes the class-sequence matcher against RE2, its oracle. Input: a
// pattern, a NUL byte, then a text. Property: whenever compile() takes the
// pattern and RE2 compiles it (as schema::regex does), both give the same
// answer for a full match of the text.
#include "portcullis/detail/class_sequence.hpp"

#include <re2/re2.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto nul = input.find('\0');
  if (nul == std::string_view::npos) return 0;
  std::string_view pattern = input.substr(0, nul), text = input.substr(nul + 1);

  auto seq = portcullis::detail::class_sequence::compile(pattern);
  if (!seq) return 0;
  RE2::Options o;
  o.set_log_errors(false);
  RE2 re(re2::StringPiece(pattern.data(), pattern.size()), o);
  if (!re.ok()) return 0;
  bool expected = RE2::FullMatch(re2::StringPiece(text.data(), text.size()), re);
  if (seq->full_match(text) != expected) std::abort();
  return 0;
}
