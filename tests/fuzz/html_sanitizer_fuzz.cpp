// Fuzz target of the HTML sanitizer. For any input, under the strict and
// the wide allowlist: no crash; the output, re-parsed, holds only allowed
// elements and attributes with allowed URL schemes; sanitizing the output
// again returns it unchanged; parsing and serializing it returns it
// unchanged. A broken property aborts with the input's output printed.
#include "portcullis/html_sanitizer.hpp"

#include "support/html_check.hpp"
#include "support/xss_corpus.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

struct target {
  portcullis::html_sanitizer_options options;
  portcullis::html_sanitizer sanitizer;
  portcullis::test::html_allowlist allow;

  explicit target(portcullis::html_sanitizer_options o)
      : options(o), sanitizer(o), allow(portcullis::test::allowlist_of(o)) {}
};

[[noreturn]] void broken(const char* what, const std::string& out) {
  std::fprintf(stderr, "html_sanitizer property broken: %s\noutput: %s\n", what, out.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static target targets[] = {target(portcullis::html_sanitizer_options::strict()),
                             target(portcullis::test::wide())};
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const auto& t : targets) {
    const auto result = t.sanitizer.sanitize(input);
    if (!result) continue;  // refused by a limit: nothing to check
    const std::string& out = result.html;
    const auto problems = portcullis::test::violations(out, t.allow);
    if (!problems.empty()) broken(problems.front().c_str(), out);
    if (t.sanitizer.sanitize(out).html != out) broken("not idempotent", out);
    if (portcullis::test::reserialize(out) != out) broken("re-parse changes the tree", out);
  }
  return 0;
}
