// The JavaScript face of the tracer: converts plans and results, turns faults into JS errors with an errno code.
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <set>

#include "tracer.h"

namespace hp {
void initSymbolScan(Napi::Env env, Napi::Object exports);  // symscan.cc
void initDemangle(Napi::Env env, Napi::Object exports);     // demangle.cc
}

namespace {

using hp::Fault;

Napi::Error toJsError(Napi::Env env, const Fault& f) {
  Napi::Error e = Napi::Error::New(env, f.message);
  e.Set("code", Napi::String::New(env, f.code));
  if (!f.syscall.empty()) e.Set("syscall", Napi::String::New(env, f.syscall));
  if (f.opIndex >= 0) {
    e.Set("opIndex", Napi::Number::New(env, f.opIndex));
    Napi::Array done = Napi::Array::New(env, f.completed.size());
    for (size_t i = 0; i < f.completed.size(); i++) done.Set(static_cast<uint32_t>(i), Napi::BigInt::New(env, f.completed[i]));
    e.Set("completed", done);
    e.Set("rolledBack", Napi::Boolean::New(env, f.rolledBack));
  }
  if (f.hasValue) e.Set("value", Napi::BigInt::New(env, f.value));
  return e;
}

uint64_t toU64(const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless = true;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (v.IsNumber()) return static_cast<uint64_t>(v.As<Napi::Number>().Int64Value());
  return 0;
}

std::vector<uint8_t> toBytes(const Napi::Value& v) {
  if (!v.IsBuffer()) return {};
  auto b = v.As<Napi::Buffer<uint8_t>>();
  return std::vector<uint8_t>(b.Data(), b.Data() + b.Length());
}

bool boolField(const Napi::Object& o, const char* k, bool dflt) {
  Napi::Value v = o.Get(k);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
}

int intField(const Napi::Object& o, const char* k, int dflt) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : dflt;
}

hp::Op::Kind opKind(const std::string& s) {
  if (s == "regs") return hp::Op::Regs;
  if (s == "setregs") return hp::Op::SetRegs;
  if (s == "fpregs") return hp::Op::FpRegs;
  if (s == "read") return hp::Op::Read;
  if (s == "write") return hp::Op::Write;
  if (s == "call") return hp::Op::Call;
  if (s == "syscall") return hp::Op::Syscall;
  if (s == "stack") return hp::Op::Stack;
  throw Fault{"E_BAD_ARGUMENT", "unknown op kind " + s, ""};
}

hp::Plan toPlan(const Napi::Object& o) {
  hp::Plan p;
  p.stopAll = boolField(o, "stopAll", true);
  p.keepStopped = boolField(o, "keepStopped", false);
  p.captureThreads = boolField(o, "captureThreads", false);
  p.captureStackBytes = static_cast<uint64_t>(intField(o, "captureStackBytes", 0));
  p.guardAttempts = intField(o, "guardAttempts", 50);
  p.guardStackBytes = static_cast<uint64_t>(intField(o, "guardStackBytes", 0));
  Napi::Value guard = o.Get("guard");
  if (guard.IsArray()) {
    auto arr = guard.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      auto pair = arr.Get(i).As<Napi::Array>();
      p.guardRanges.emplace_back(toU64(pair.Get(0u)), toU64(pair.Get(1u)));
    }
  }
  Napi::Value ops = o.Get("ops");
  if (ops.IsArray()) {
    auto arr = ops.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Object js = arr.Get(i).As<Napi::Object>();
      hp::Op op;
      op.kind = opKind(js.Get("kind").As<Napi::String>().Utf8Value());
      op.tid = intField(js, "tid", 0);
      op.addr = toU64(js.Get("addr"));
      op.len = toU64(js.Get("len"));
      op.data = toBytes(js.Get("data"));
      op.sysno = toU64(js.Get("sysno"));
      op.stackDataArg = intField(js, "stackDataArg", -1);
      op.onlyIfPreviousZero = boolField(js, "onlyIfPreviousZero", false);
      op.timeoutMs = intField(js, "timeoutMs", 2000);
      op.returnStub = toU64(js.Get("returnStub"));
      op.stubDone = toU64(js.Get("stubDone"));
      op.stubSignal = intField(js, "stubSignal", 0);
      Napi::Value expect = js.Get("expect");
      if (expect.IsBigInt() || expect.IsNumber()) {
        op.hasExpect = true;
        op.expect = toU64(expect);
      }
      Napi::Value args = js.Get("args");
      if (args.IsArray()) {
        auto a = args.As<Napi::Array>();
        op.nargs = static_cast<int>(std::min<uint32_t>(a.Length(), 6));
        for (int k = 0; k < op.nargs; k++) op.args[k] = toU64(a.Get(static_cast<uint32_t>(k)));
      }
      p.ops.push_back(std::move(op));
    }
  }
  return p;
}

Napi::Value fromResult(Napi::Env env, const hp::PlanResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("pauseNs", Napi::Number::New(env, static_cast<double>(r.pauseNs)));
  o.Set("workNs", Napi::Number::New(env, static_cast<double>(r.workNs)));
  o.Set("threadsPaused", Napi::Number::New(env, r.threadsPaused));
  o.Set("guardRetries", Napi::Number::New(env, r.guardRetries));
  Napi::Array results = Napi::Array::New(env, r.results.size());
  for (size_t i = 0; i < r.results.size(); i++) {
    const auto& x = r.results[i];
    Napi::Object e = Napi::Object::New(env);
    e.Set("ran", Napi::Boolean::New(env, x.ran));
    e.Set("value", Napi::BigInt::New(env, x.value));
    e.Set("tid", Napi::Number::New(env, x.tid));
    e.Set("data", Napi::Buffer<uint8_t>::Copy(env, x.data.data(), x.data.size()));
    if (!x.regs.empty()) e.Set("regs", Napi::Buffer<uint8_t>::Copy(env, x.regs.data(), x.regs.size()));
    results.Set(static_cast<uint32_t>(i), e);
  }
  o.Set("results", results);
  Napi::Array threads = Napi::Array::New(env, r.threads.size());
  for (size_t i = 0; i < r.threads.size(); i++) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("tid", Napi::Number::New(env, r.threads[i].tid));
    t.Set("regs", Napi::Buffer<uint8_t>::Copy(env, r.threads[i].regs.data(), r.threads[i].regs.size()));
    t.Set("groupStopped", Napi::Boolean::New(env, r.threads[i].groupStopped));
    if (!r.threads[i].stack.empty()) t.Set("stack", Napi::Buffer<uint8_t>::Copy(env, r.threads[i].stack.data(), r.threads[i].stack.size()));
    threads.Set(static_cast<uint32_t>(i), t);
  }
  o.Set("threads", threads);
  return o;
}

// A finished job, carried back to the JS thread.
struct Completion {
  Napi::Promise::Deferred deferred;
  bool ok = true;
  Fault fault;
  std::function<Napi::Value(Napi::Env)> build;
};

class TracerWrap : public Napi::ObjectWrap<TracerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Tracer",
                       {InstanceMethod("seize", &TracerWrap::Seize), InstanceMethod("detach", &TracerWrap::Detach),
                        InstanceMethod("run", &TracerWrap::Run), InstanceMethod("resume", &TracerWrap::Resume),
                        InstanceMethod("writeMemory", &TracerWrap::WriteMemory),
                        InstanceMethod("close", &TracerWrap::Close)});
  }

  explicit TracerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TracerWrap>(info) {
    Napi::Env env = info.Env();
    done_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "hotpatch-done", 0, 1);
    done_.Unref(env);
    Napi::Function onEvent = info.Length() > 0 && info[0].IsFunction() ? info[0].As<Napi::Function>()
                                                                        : Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
    events_ = Napi::ThreadSafeFunction::New(env, onEvent, "hotpatch-events", 0, 1);
    events_.Unref(env);
    liveWraps().insert(this);
    auto events = events_;
    tracer_ = std::make_unique<hp::Tracer>([events](const hp::TargetEvent& ev) mutable {
      auto* copy = new hp::TargetEvent(ev);
      events.NonBlockingCall(copy, [](Napi::Env env, Napi::Function fn, hp::TargetEvent* e) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("type", e->type);
        o.Set("pid", e->pid);
        o.Set("tid", e->tid);
        o.Set("status", e->status);
        o.Set("signaled", e->signaled);
        delete e;
        fn.Call({o});
      });
    });
  }

  ~TracerWrap() override {
    shutdown();
    liveWraps().erase(this);
  }

  // Node tears an environment down without running every finalizer first: stop our threads before that.
  static void shutdownAll(void*) {
    for (TracerWrap* w : std::set<TracerWrap*>(liveWraps())) w->shutdown();
  }

 private:
  static std::set<TracerWrap*>& liveWraps() {
    static std::set<TracerWrap*> wraps;
    return wraps;
  }

  void shutdown() {
    if (closed_) return;
    closed_ = true;
    tracer_.reset();  // detaches first
    done_.Release();
    events_.Release();
  }

  // Queue `work` on the tracer thread; the promise settles on the JS thread. The pending count keeps Node alive.
  Napi::Value schedule(Napi::Env env, std::function<std::function<Napi::Value(Napi::Env)>()> work) {
    auto deferred = Napi::Promise::Deferred::New(env);
    if (closed_) {
      deferred.Reject(toJsError(env, Fault{"E_CLOSED", "the tracer is closed", ""}).Value());
      return deferred.Promise();
    }
    if (pending_++ == 0) done_.Ref(env);
    auto* c = new Completion{deferred, true, Fault{}, nullptr};
    auto tsfn = done_;
    TracerWrap* self = this;
    tracer_->post([c, work, tsfn]() mutable {
      try {
        c->build = work();
      } catch (const Fault& f) {
        c->ok = false;
        c->fault = f;
      } catch (const std::exception& e) {
        c->ok = false;
        c->fault = Fault{"E_INTERNAL", e.what(), ""};
      } catch (...) {
        c->ok = false;
        c->fault = Fault{"E_INTERNAL", "unknown native failure", ""};
      }
      tsfn.BlockingCall(c, [](Napi::Env env, Napi::Function, Completion* c) {
        if (c->ok) c->deferred.Resolve(c->build(env));
        else c->deferred.Reject(toJsError(env, c->fault).Value());
        delete c;
      });
    });
    return finish(env, deferred.Promise(), self);
  }

  // promise.finally() counts the job down when it settles, letting rejections pass through untouched.
  Napi::Value finish(Napi::Env env, Napi::Promise promise, TracerWrap* self) {
    Napi::Function onFinally = Napi::Function::New(env, [self](const Napi::CallbackInfo& info) -> Napi::Value {
      if (--self->pending_ == 0 && !self->closed_) self->done_.Unref(info.Env());
      return info.Env().Undefined();
    });
    return promise.Get("finally").As<Napi::Function>().Call(promise, {onFinally});
  }

  Napi::Value Seize(const Napi::CallbackInfo& info) {
    pid_t pid = info[0].As<Napi::Number>().Int32Value();
    hp::Tracer* t = tracer_.get();
    return schedule(info.Env(), [t, pid]() {
      auto tids = t->seize(pid);
      return std::function<Napi::Value(Napi::Env)>([tids](Napi::Env env) -> Napi::Value {
        Napi::Array a = Napi::Array::New(env, tids.size());
        for (size_t i = 0; i < tids.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, tids[i]));
        return a;
      });
    });
  }

  Napi::Value Detach(const Napi::CallbackInfo& info) {
    hp::Tracer* t = tracer_.get();
    return schedule(info.Env(), [t]() {
      t->detach();
      return std::function<Napi::Value(Napi::Env)>([](Napi::Env env) -> Napi::Value { return env.Undefined(); });
    });
  }

  Napi::Value Run(const Napi::CallbackInfo& info) {
    hp::Plan plan;
    try {
      plan = toPlan(info[0].As<Napi::Object>());
    } catch (const Fault& f) {
      auto d = Napi::Promise::Deferred::New(info.Env());
      d.Reject(toJsError(info.Env(), f).Value());
      return d.Promise();
    }
    hp::Tracer* t = tracer_.get();
    auto shared = std::make_shared<hp::Plan>(std::move(plan));
    return schedule(info.Env(), [t, shared]() {
      hp::PlanResult r = t->runPlan(*shared);
      return std::function<Napi::Value(Napi::Env)>([r](Napi::Env env) { return fromResult(env, r); });
    });
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    hp::Tracer* t = tracer_.get();
    return schedule(info.Env(), [t]() {
      uint64_t t0 = hp::monoNs();
      t->resumeAll();
      uint64_t ns = hp::monoNs() - t0;
      return std::function<Napi::Value(Napi::Env)>([ns](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, double(ns)); });
    });
  }

  // Synchronous: a pwrite on the tracer's own /proc/PID/mem, from the JS thread (no stop, no round trip).
  Napi::Value WriteMemory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t addr = toU64(info[0]);
    auto data = info[1].As<Napi::Buffer<uint8_t>>();
    int64_t n = closed_ ? -ESRCH : tracer_->writeMemory(addr, data.Data(), data.Length());
    if (n < 0) {
      toJsError(env, hp::sysFault(static_cast<int>(-n), "pwrite /proc/PID/mem", tracer_ ? tracer_->pid() : 0)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    shutdown();
    return info.Env().Undefined();
  }

  std::unique_ptr<hp::Tracer> tracer_;
  Napi::ThreadSafeFunction done_;
  Napi::ThreadSafeFunction events_;
  int pending_ = 0;
  bool closed_ = false;
};

// Memory reads need no stop: process_vm_readv from the JS thread. Returns the bytes actually readable.
Napi::Value ReadMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  uint64_t addr = toU64(info[1]);
  size_t len = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  auto buf = Napi::Buffer<uint8_t>::New(env, len);
  int64_t n = hp::Tracer::readMemory(pid, addr, buf.Data(), len);
  if (n < 0) {
    toJsError(env, hp::sysFault(static_cast<int>(-n), "process_vm_readv", pid)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (static_cast<size_t>(n) == len) return buf;  // the whole range: no second copy
  return Napi::Buffer<uint8_t>::Copy(env, buf.Data(), static_cast<size_t>(n));
}

// The same into a caller's buffer (reused across reads, so a long dump pays no page faults): bytes read.
Napi::Value ReadMemoryInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  uint64_t addr = toU64(info[1]);
  auto out = info[2].As<Napi::Buffer<uint8_t>>();
  int64_t n = hp::Tracer::readMemory(pid, addr, out.Data(), out.Length());
  if (n < 0) {
    toJsError(env, hp::sysFault(static_cast<int>(-n), "process_vm_readv", pid)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// A pidfd names one process for as long as it is held, whatever becomes of its pid: the identity check of a target
// while attached (Target.checkIdentity) is one poll instead of reading and parsing /proc/PID/stat. -1 where the
// kernel has no pidfd_open (before 5.3), and the caller reads stat as before.
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
#ifdef SYS_pidfd_open
  long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  return Napi::Number::New(info.Env(), fd >= 0 ? static_cast<double>(fd) : -1);
#else
  (void)pid;
  return Napi::Number::New(info.Env(), -1);
#endif
}

// A pidfd polls readable once its process has exited (a zombie, or reaped): true then.
Napi::Value PidfdExited(const Napi::CallbackInfo& info) {
  struct pollfd p = {info[0].As<Napi::Number>().Int32Value(), POLLIN, 0};
  int rc;
  do rc = poll(&p, 1, 0);
  while (rc < 0 && errno == EINTR);
  return Napi::Boolean::New(info.Env(), rc > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0);
}

// Ends the process at once (_exit): the CLI's way out once its output is written and every target detached. Node's
// own exit drains the platform's background tasks first, and on Node 20 that can deadlock for good: a TurboFan job
// waiting for a garbage collection that only the exiting main thread could run (nodejs/node#54918, seen in CI).
Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  _exit(info[0].As<Napi::Number>().Int32Value());
}

// Closes a pidfd from PidfdOpen.
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Tracer", TracerWrap::Define(env));
  napi_add_env_cleanup_hook(env, TracerWrap::shutdownAll, nullptr);
  exports.Set("readMemory", Napi::Function::New(env, ReadMemory));
  exports.Set("readMemoryInto", Napi::Function::New(env, ReadMemoryInto));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("pidfdExited", Napi::Function::New(env, PidfdExited));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow));
  hp::initSymbolScan(env, exports);
  hp::initDemangle(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(hotpatch_native, Init)
