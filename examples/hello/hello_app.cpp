// The hello chain composed in plain C++: two functions, one chain, run behind the gateway.
//
//   ./hello_app --listen 127.0.0.1:8080
//   curl -d 'hello spry' http://127.0.0.1:8080/hello
#include "core/app.hpp"
#include "examples/hello/hello_functions.hpp"
#include "gateway/run.hpp"

int main(int argc, char** argv) {
  spry::core::app app("hello");
  app.function("upper", hello::uppercase{});
  app.function("count", hello::count{});
  app.chain("hello").http("POST", "/hello").then("upper").then("count");
  return spry::gateway::run(app, argc, argv);
}
