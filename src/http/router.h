// Router: maps (method, path) to a handler, as the route files register them.
// Exact paths first, then the longest matching prefix route; an unknown path
// is a 404 "404 page not found: <path>" (Go's wording), a known path with
// another method a 405. HEAD is served by the GET handler (the front drops
// the body). Built once before the server starts; read-only afterwards, so
// handlers on any thread may dispatch concurrently.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "http/message.h"

namespace syncscope::http::internal {

using Handler = std::function<void(const Request&, Response&)>;

class Router {
 public:
  void Get(std::string path, Handler h) { add("GET", std::move(path), std::move(h)); }
  void Post(std::string path, Handler h) { add("POST", std::move(path), std::move(h)); }
  // Every path under `prefix` (which ends in '/') not registered exactly.
  void GetPrefix(std::string prefix, Handler h);

  // Fills `res` for `req`. Never throws: a handler's exception becomes a 500.
  void dispatch(const Request& req, Response& res) const;

 private:
  void add(std::string method, std::string path, Handler h);

  std::map<std::pair<std::string, std::string>, Handler> exact_;  // (method, path)
  std::vector<std::pair<std::string, Handler>> get_prefixes_;      // (prefix, handler)
};

}  // namespace syncscope::http::internal
