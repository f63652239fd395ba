// portcullis/portcullis.hpp — every public header of the core library.
//
// Convenient for applications; libraries and large projects should include
// the headers they use, to keep compile times down.
#pragma once

#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"
#include "portcullis/client_address.hpp"
#include "portcullis/clock.hpp"
#include "portcullis/content_type.hpp"
#include "portcullis/context.hpp"
#include "portcullis/cors.hpp"
#include "portcullis/counters.hpp"
#include "portcullis/errc.hpp"
#include "portcullis/error_handler.hpp"
#include "portcullis/http.hpp"
#include "portcullis/https_redirect.hpp"
#include "portcullis/ip_network.hpp"
#include "portcullis/json_body.hpp"
#include "portcullis/log.hpp"
#include "portcullis/memory_rate_limit_store.hpp"
#include "portcullis/middleware.hpp"
#include "portcullis/multipart.hpp"
#include "portcullis/query_string.hpp"
#include "portcullis/rate_limit.hpp"
#include "portcullis/rate_limit_store.hpp"
#include "portcullis/schema.hpp"
#include "portcullis/security_headers.hpp"
#include "portcullis/timeout.hpp"
#include "portcullis/validate.hpp"
#include "portcullis/versioning.hpp"
