// The tracer thread: the one OS thread that owns every ptrace request for one target process.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hp {

// A kernel error (keeps the errno name) or a tool error with its own code; crosses to JS once.
struct Fault {
  std::string code;     // "ESRCH", "ETIMEDOUT", "E_REMOTE_FAULT" …
  std::string message;  // one line
  std::string syscall;  // the failing call, when a kernel call failed
  // Set by a plan that failed part way: the op that failed, the results of the ops before it, whether the plan's
  // writes were put back. The caller then knows exactly what happened in the target (which pages got made).
  int opIndex = -1;
  std::vector<uint64_t> completed;
  bool hasValue = false;  // E_REMOTE_RESULT: what the step returned instead of what was expected
  uint64_t value = 0;
  bool rolledBack = false;
};

Fault sysFault(int err, const std::string& call, pid_t pid);

struct ThreadState {
  pid_t tid = 0;
  bool stopped = false;          // in a ptrace-stop we asked for and have not answered
  bool groupStopped = false;     // job-control stopped: resume with PTRACE_LISTEN, not CONT
  bool wantStop = false;         // we sent PTRACE_INTERRUPT and wait for its stop
  int stopEvent = 0;             // the PTRACE_EVENT_* of the stop it is held in (0: a signal stop)
};

// What the process did on its own, reported to JS as it happens.
struct TargetEvent {
  std::string type;  // "exit", "exec", "thread-start", "thread-exit"
  pid_t pid = 0;
  pid_t tid = 0;
  int status = 0;    // exit code or terminating signal
  bool signaled = false;
};

// One step of a transaction, run on the tracer thread while the target is paused.
struct Op {
  // Stack: one thread's registers and `len` bytes of its stack from its stack pointer, read in one stop (backtraces).
  enum Kind { Regs, SetRegs, FpRegs, Read, Write, Call, Syscall, Stack } kind = Regs;
  pid_t tid = 0;
  uint64_t addr = 0;        // Read/Write address; Call: function; Syscall: address of a `syscall` instruction
  uint64_t len = 0;         // Read length
  std::vector<uint8_t> data;  // Write bytes, SetRegs block, Call stack data
  uint64_t args[6] = {0, 0, 0, 0, 0, 0};
  int nargs = 0;
  uint64_t sysno = 0;
  int stackDataArg = -1;    // Call: this argument becomes the address of `data` copied onto the thread's stack
  bool onlyIfPreviousZero = false;  // run only when the previous Call/Syscall returned 0 (dlopen → dlerror)
  bool hasExpect = false;   // Syscall/Call: fail the transaction unless the result equals `expect`
  uint64_t expect = 0;
  int timeoutMs = 2000;
  // Call: return into this stub instead of address 0. The stub stops at `stubDone` by raising `stubSignal` on its own
  // thread (a signal ignored by default: while we trace it we see it; untraced, nothing happens) and then, should we be
  // gone, puts the thread back itself with rt_sigreturn from the frame we leave on its stack.
  uint64_t returnStub = 0;
  uint64_t stubDone = 0;
  int stubSignal = 0;
};

struct OpResult {
  bool ran = false;
  uint64_t value = 0;             // Call/Syscall return
  std::vector<uint8_t> data;      // Regs / FpRegs / Read / Stack (the stack bytes)
  std::vector<uint8_t> regs;      // Stack: the thread's registers
  pid_t tid = 0;
};

struct Plan {
  bool stopAll = true;       // stop every thread (code writes); else only the threads the ops name
  bool keepStopped = false;  // leave everything stopped afterwards (the `stop` command)
  std::vector<std::pair<uint64_t, uint64_t>> guardRanges;  // no thread's pc may lie in [lo, hi)
  // ... nor may a word of the top guardStackBytes of its stack (a return address of a frame still inside the code
  // about to go away: a thread preempted in a callee of it)
  uint64_t guardStackBytes = 0;
  int guardAttempts = 50;
  bool captureThreads = false;  // return every thread's registers
  uint64_t captureStackBytes = 0;  // ... and this much of each one's stack from its stack pointer (backtraces)
  std::vector<Op> ops;
};

struct ThreadSnapshot {
  pid_t tid;
  std::vector<uint8_t> regs;
  bool groupStopped;
  std::vector<uint8_t> stack;  // captureStackBytes from the stack pointer, or less where the mapping ends
};

struct PlanResult {
  std::vector<OpResult> results;
  std::vector<ThreadSnapshot> threads;
  uint64_t pauseNs = 0;       // first stop requested → last thread resumed
  uint64_t workNs = 0;        // ops alone
  int threadsPaused = 0;
  int guardRetries = 0;
  bool rolledBack = false;
};

class Tracer {
 public:
  using EventSink = std::function<void(const TargetEvent&)>;

  explicit Tracer(EventSink sink);
  ~Tracer();

  // Queue work for the tracer thread (any thread may call).
  void post(std::function<void()> job);

  // ---- run on the tracer thread only ----
  std::vector<pid_t> seize(pid_t pid);
  void detach();
  PlanResult runPlan(Plan& plan);
  void resumeAll();
  pid_t pid() const { return pid_; }
  bool attached() const { return pid_ != 0; }

  // ---- any thread: no ptrace needed ----
  static int64_t readMemory(pid_t pid, uint64_t addr, void* out, size_t len);
  // A write through the /proc/PID/mem this tracer holds (read-only pages too): bytes written, or -errno.
  int64_t writeMemory(uint64_t addr, const void* data, size_t len);

 private:
  void loop();
  void dispatch(pid_t tid, int status);
  void armWakeTimer(bool on);
  int waitAny(int* status, uint64_t deadlineNs);  // EINTR-tolerant; returns -1 with errno=ETIMEDOUT past deadline
  int waitThread(pid_t tid, uint64_t deadlineNs);  // dispatching others; returns that thread's status
  void stopAllThreads(uint64_t deadlineNs);
  void stopThread(ThreadState& t, uint64_t deadlineNs);
  void resumeThread(ThreadState& t);
  void refreshThreads();
  bool seizeThread(pid_t tid);
  void settleThread(pid_t tid, uint64_t deadlineNs);
  void waitUntilStopped(pid_t tid, uint64_t deadlineNs);
  void forget();
  OpResult remoteCall(Op& op);
  void withThreadStopped(pid_t tid, const std::function<void(pid_t)>& fn);
  void writeCode(uint64_t addr, const std::vector<uint8_t>& bytes);
  std::vector<uint8_t> readStack(uint64_t sp, uint64_t len);
  ThreadState& thread(pid_t tid);

  EventSink sink_;
  std::thread worker_;
  pid_t workerTid_ = 0;
  void* wakeTimer_ = nullptr;
  bool hasTimer_ = false;
  bool timerArmed_ = false;
  std::mutex timerMu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool quitting_ = false;

  pid_t pid_ = 0;
  int memFd_ = -1;          // changed on the tracer thread only, under memMu_ (writeMemory reads it from others)
  std::mutex memMu_;
  bool holdAll_ = false;   // every thread must stay stopped (inside a plan, or after `stop`)
  std::map<pid_t, ThreadState> threads_;
};

uint64_t monoNs();

}  // namespace hp
