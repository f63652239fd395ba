// secure_api — the reference server: a small real API hardened with every
// part of portcullis. Read app.cpp for how the chain is put together.
//
//   secure_api [--config FILE] [--port N]
//
// Starts on 127.0.0.1:8080 with in-memory stores unless the configuration
// says otherwise (docs/secure-api.md lists every key). Prints one line,
// `listening on http://ADDRESS:PORT`, once it accepts connections; SIGINT
// or SIGTERM stop it after the requests in flight have been answered.
#include "app.hpp"
#include "config.hpp"

#include <portcullis/server.hpp>

#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>

namespace {

portcullis::log_level level_of(const std::string& name) {
  if (name == "debug") return portcullis::log_level::debug;
  if (name == "warning") return portcullis::log_level::warning;
  if (name == "error") return portcullis::log_level::error;
  if (name == "off") return portcullis::log_level::off;
  return portcullis::log_level::info;
}

int usage(const char* self) {
  std::fprintf(stderr, "usage: %s [--config FILE] [--port N]\n", self);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  int port_override = -1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--port" && i + 1 < argc) {
      port_override = std::atoi(argv[++i]);
      if (port_override < 0 || port_override > 65535) return usage(argv[0]);
    } else if (arg == "--help" || arg == "-h") {
      usage(argv[0]);
      return 0;
    } else {
      return usage(argv[0]);
    }
  }

  try {
    secure_api::config cfg;
    if (!config_path.empty()) cfg = secure_api::load_config(config_path);
    if (port_override >= 0) cfg.port = static_cast<unsigned short>(port_override);

    portcullis::logger log{std::make_shared<portcullis::json_lines_sink>(),
                           level_of(cfg.log_level)};
    portcullis::server_options options;
    options.address = cfg.address;
    options.port = cfg.port;
    options.threads = cfg.threads;
    options.log = log;
    if (cfg.tls_certificate)
      options.tls = portcullis::tls_options{*cfg.tls_certificate, *cfg.tls_private_key};

    // The services are made on the server's io_context, so that the Redis
    // store (when configured) answers on the threads that serve requests.
    // Declared before the server: they outlive it.
    std::optional<secure_api::services> services;
    portcullis::server server{options, [&](const boost::asio::any_io_executor& io) {
                                services.emplace(cfg, portcullis::system_clock(), log, io);
                                return secure_api::build_app(*services);
                              }};
    services->metrics.add(&server.counters());
    server.start();
    std::printf("listening on %s://%s:%u\n", options.tls ? "https" : "http", cfg.address.c_str(),
                static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    server.run();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "secure_api: %s\n", e.what());
    return 1;
  }
}
