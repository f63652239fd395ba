// Writes, as one JSON document on stdout, every XSS payload of the shared
// case file and of the mutation corpus sanitized under each allowlist, for
// the real-browser test (html_sanitizer.test.js) to insert into a page.
//
//     sanitize_payloads <cases/xss/dompurify_vectors.json> [corpus folder …]
//
// Each file of the given folders (the fuzz corpus) is one more payload.
//
// Output: {"allowlists": {name: {"schemes": [...]}}, "items": [{"id", "allowlist",
// "payload", "html"}]}.
#include "portcullis/html_sanitizer.hpp"

#include "support/xss_corpus.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
  using namespace portcullis;
  if (argc < 2) {
    std::cerr << "usage: sanitize_payloads <dompurify_vectors.json> [corpus folder ...]\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << "cannot open " << argv[1] << "\n";
    return 2;
  }
  const auto cases = nlohmann::json::parse(in);

  std::vector<std::pair<std::string, std::string>> payloads;
  for (std::size_t i = 0; i < cases.size(); ++i)
    payloads.emplace_back("dompurify-" + std::to_string(i), cases[i].at("payload"));
  std::size_t k = 0;
  for (const char* p : test::mutation_corpus)
    payloads.emplace_back("mutation-" + std::to_string(k++), p);

  for (int a = 2; a < argc; ++a) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(argv[a]))
      if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      std::ifstream f(path, std::ios::binary);
      std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      payloads.emplace_back("corpus-" + path.filename().string(), std::move(data));
    }
  }

  const std::pair<const char*, html_sanitizer_options> allowlists[] = {
      {"strict", html_sanitizer_options::strict()},
      {"rich_text", html_sanitizer_options::rich_text()},
      {"wide", test::wide()}};

  nlohmann::json out{{"allowlists", nlohmann::json::object()}, {"items", nlohmann::json::array()}};
  for (const auto& [name, options] : allowlists) {
    out["allowlists"][name] = {{"schemes", options.url_schemes}};
    const html_sanitizer sanitizer(options);
    for (const auto& [id, payload] : payloads) {
      const auto result = sanitizer.sanitize(payload);
      if (!result) {
        // The shared cases are small; only fuzz inputs may hit a limit.
        if (id.starts_with("corpus-")) continue;
        std::cerr << id << " refused under " << name << ": " << result.refusal_message() << "\n";
        return 1;
      }
      out["items"].push_back(
          {{"id", id}, {"allowlist", name}, {"payload", payload}, {"html", result.html}});
    }
  }
  // Invalid UTF-8 in payloads is replaced rather than refused by dump().
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}
