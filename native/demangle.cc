// C++ names demangled in the addon, by the C++ runtime's own demangler (abi::__cxa_demangle, the Itanium ABI's
// entry point; libstdc++ builds it from the same libiberty code as c++filt, in gdb's style: std::string, not
// std::basic_string<…> spelled out). One call takes a batch: a process spawned for c++filt cost a `syms` run on node
// more than the demangling itself.
#include <napi.h>

#include <cxxabi.h>

#include <cstdlib>
#include <string>

namespace hp {
namespace {

// names joined by '\n' -> the demangled names joined by '\n', an empty line where a name is not a C++ name.
Napi::Value Demangle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "demangle(names joined by newlines)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string all = info[0].As<Napi::String>().Utf8Value();
  std::string out;
  out.reserve(all.size() * 2);
  size_t from = 0;
  std::string name;
  size_t buflen = 1024;
  char* buf = static_cast<char*>(std::malloc(buflen));
  while (from <= all.size()) {
    size_t end = all.find('\n', from);
    if (end == std::string::npos) end = all.size();
    name.assign(all, from, end - from);
    int status = 0;
    // __cxa_demangle may realloc the buffer it is given: it hands back the one to keep.
    char* got = name.empty() ? nullptr : abi::__cxa_demangle(name.c_str(), buf, &buflen, &status);
    if (got) buf = got;
    if (got && status == 0) out.append(got);
    if (end == all.size()) break;
    out.push_back('\n');
    from = end + 1;
  }
  std::free(buf);
  return Napi::String::New(env, out);
}

}  // namespace

void initDemangle(Napi::Env env, Napi::Object exports) {
  exports.Set("demangle", Napi::Function::New(env, Demangle));
}

}  // namespace hp
