// The tracer thread: seizes a process, answers its stops at once, and runs plans (stop → ops → resume) as one work item.
#include "tracer.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>

#include "arch_x86_64.h"

namespace hp {

namespace {

constexpr long kSeizeOptions = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT;
constexpr uint64_t kStopTimeoutNs = 3'000'000'000ULL;  // a thread in D state may not stop at once

int wakeSignal() { return SIGRTMIN + 5; }

void onWake(int) {}  // only there so waitpid returns EINTR

bool isStopSignal(int sig) { return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU; }

std::string errnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : ("E" + std::to_string(err));
}

[[noreturn]] void fail(int err, const std::string& call, pid_t pid) { throw sysFault(err, call, pid); }
[[noreturn]] void failWith(const std::string& code, const std::string& message) { throw Fault{code, message, ""}; }

long pt(enum __ptrace_request req, pid_t tid, void* addr, void* data, const char* name) {
  errno = 0;
  long r = ptrace(req, tid, addr, data);
  if (r == -1 && errno != 0) fail(errno, name, tid);
  return r;
}

}  // namespace

Fault sysFault(int err, const std::string& call, pid_t pid) {
  return Fault{errnoName(err), call + "(" + std::to_string(pid) + "): " + strerror(err), call};
}

uint64_t monoNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ULL + uint64_t(ts.tv_nsec);
}

Tracer::Tracer(EventSink sink) : sink_(std::move(sink)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = onWake;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: waitpid must return EINTR
  sigaction(wakeSignal(), &sa, nullptr);

  std::mutex ready;
  std::condition_variable started;
  bool up = false;
  worker_ = std::thread([this, &ready, &started, &up] {
    workerTid_ = static_cast<pid_t>(syscall(SYS_gettid));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, wakeSignal());
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = wakeSignal();
    sev._sigev_un._tid = workerTid_;
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &sev, &timer) == 0) {
      wakeTimer_ = timer;  // glibc may hand out timer id 0: keep a flag, not a null check
      hasTimer_ = true;
    }
    {
      std::lock_guard<std::mutex> lock(ready);
      up = true;
    }
    started.notify_one();
    loop();
  });
  std::unique_lock<std::mutex> lock(ready);
  started.wait(lock, [&] { return up; });
}

Tracer::~Tracer() {
  post([this] {
    if (attached()) {
      try {
        detach();
      } catch (...) {
      }
    }
    quitting_ = true;
  });
  if (worker_.joinable()) worker_.join();
  if (hasTimer_) timer_delete(static_cast<timer_t>(wakeTimer_));
}

// The wake-up itself is a tgkill from post(); the timer is the backstop for one that lands just before waitpid
// blocks (the handler runs, waitpid then waits): it fires after a millisecond and every millisecond until the queue
// is drained. A timer that fired at once cost 24 us an arm and disarm on this VM (its interrupt), against 3 us for one
// that is disarmed before it fires and 3 us for the tgkill.
void Tracer::armWakeTimer(bool on) {
  std::lock_guard<std::mutex> lock(timerMu_);
  if (!hasTimer_ || timerArmed_ == on) return;
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  if (on) {
    its.it_value.tv_nsec = 1'000'000;
    its.it_interval.tv_nsec = 1'000'000;
  }
  int rc = timer_settime(static_cast<timer_t>(wakeTimer_), 0, &its, nullptr);
  (void)rc;
  timerArmed_ = on;
}

void Tracer::post(std::function<void()> job) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(job));
  armWakeTimer(true);
  cv_.notify_one();
  // Out of a waitpid now (EINTR): no SA_RESTART on the handler.
  if (workerTid_ > 0) syscall(SYS_tgkill, getpid(), workerTid_, wakeSignal());
}

void Tracer::loop() {
  while (true) {
    std::deque<std::function<void()>> jobs;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (queue_.empty()) {
        armWakeTimer(false);
        if (threads_.empty()) cv_.wait(lock, [this] { return !queue_.empty(); });
      }
      jobs.swap(queue_);
    }
    for (auto& job : jobs) job();
    if (quitting_) return;
    if (threads_.empty()) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!queue_.empty()) continue;
    }
    int status = 0;
    pid_t tid = waitpid(-1, &status, __WALL | __WNOTHREAD);
    if (tid > 0) {
      dispatch(tid, status);
    } else if (tid < 0 && errno == ECHILD) {
      forget();
    }
  }
}

ThreadState& Tracer::thread(pid_t tid) {
  auto it = threads_.find(tid);
  if (it == threads_.end()) {
    ThreadState t;
    t.tid = tid;
    it = threads_.emplace(tid, t).first;
  }
  return it->second;
}

void Tracer::forget() {
  threads_.clear();
  {
    std::lock_guard<std::mutex> lock(memMu_);
    if (memFd_ >= 0) close(memFd_);
    memFd_ = -1;
  }
  pid_ = 0;
  holdAll_ = false;
}

// Answer one stop at once: pass signals on, LISTEN through group-stops, follow new threads, report exits.
void Tracer::dispatch(pid_t tid, int status) {
  if (WIFEXITED(status) || WIFSIGNALED(status)) {
    threads_.erase(tid);
    if (tid == pid_ || threads_.empty()) {
      TargetEvent ev{"exit", pid_, tid, WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), WIFSIGNALED(status)};
      if (threads_.empty()) {
        forget();
        sink_(ev);
      }
    } else {
      sink_(TargetEvent{"thread-exit", pid_, tid, 0, false});
    }
    return;
  }
  if (!WIFSTOPPED(status)) return;
  int sig = WSTOPSIG(status);
  int event = status >> 16;
  bool known = threads_.count(tid) > 0;
  ThreadState& t = thread(tid);
  bool hold = holdAll_ || t.wantStop;

  switch (event) {
    case PTRACE_EVENT_CLONE: {
      unsigned long child = 0;
      // The new thread may have run, exited and been reaped already: wait reports the newest tracee first, so its
      // exit can come before this event. Follow it only while it exists, or it would be waited for forever.
      if (ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &child) == 0 && child &&
          (syscall(SYS_tgkill, pid_, static_cast<pid_t>(child), 0) == 0 || errno != ESRCH)) {
        bool seen = threads_.count(static_cast<pid_t>(child)) > 0;
        ThreadState& c = thread(static_cast<pid_t>(child));
        if (!seen) {
          c.wantStop = holdAll_;
          sink_(TargetEvent{"thread-start", pid_, static_cast<pid_t>(child), 0, false});
        }
      }
      if (hold) {
        t.stopped = true;
        t.wantStop = false;
        t.stopEvent = PTRACE_EVENT_CLONE;
      } else {
        ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      }
      return;
    }
    case PTRACE_EVENT_EXEC: {
      // Every other thread is gone; the survivor now carries the leader's tid.
      unsigned long formerTid = 0;
      ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &formerTid);
      ThreadState keep = t;
      threads_.clear();
      keep.tid = tid;
      threads_[tid] = keep;
      // The open /proc/PID/mem belongs to the old address space: every write through it would fail.
      {
        std::lock_guard<std::mutex> lock(memMu_);
        if (memFd_ >= 0) close(memFd_);
        memFd_ = open(("/proc/" + std::to_string(pid_) + "/mem").c_str(), O_RDWR | O_CLOEXEC);
      }
      sink_(TargetEvent{"exec", pid_, tid, 0, false});
      if (hold) {
        threads_[tid].stopped = true;
        threads_[tid].wantStop = false;
        threads_[tid].stopEvent = PTRACE_EVENT_EXEC;
      } else {
        ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      }
      return;
    }
    case PTRACE_EVENT_EXIT:
      ptrace(PTRACE_CONT, tid, nullptr, nullptr);  // let it finish dying
      return;
    case PTRACE_EVENT_STOP:
      t.groupStopped = isStopSignal(sig);
      if (hold) {
        t.stopped = true;
        t.wantStop = false;
        t.stopEvent = PTRACE_EVENT_STOP;
      } else if (t.groupStopped) {
        ptrace(PTRACE_LISTEN, tid, nullptr, nullptr);
      } else {
        ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      }
      if (!known) sink_(TargetEvent{"thread-start", pid_, tid, 0, false});
      return;
    default:
      // A signal for the target: deliver it now, whatever we are doing. A pending PTRACE_INTERRUPT still stops it later.
      ptrace(PTRACE_CONT, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
      return;
  }
}

int Tracer::waitAny(int* status, uint64_t deadlineNs) {
  while (true) {
    pid_t r = waitpid(-1, status, __WALL | __WNOTHREAD);
    if (r > 0) return r;
    if (r < 0 && errno == EINTR) {
      if (deadlineNs && monoNs() > deadlineNs) {
        errno = ETIMEDOUT;
        return -1;
      }
      armWakeTimer(true);  // keep ticking so the deadline is checked
      continue;
    }
    return -1;
  }
}

// Wait for one thread's next report while still answering every other thread.
int Tracer::waitThread(pid_t tid, uint64_t deadlineNs) {
  armWakeTimer(true);
  while (true) {
    int status = 0;
    pid_t r = waitAny(&status, deadlineNs);
    if (r < 0) return -1;
    if (r == tid) return status;
    dispatch(r, status);
  }
}

// TracerPid of one thread (the tracer's thread id, not its process id), or -1 when it is gone.
static pid_t tracerOf(pid_t pid, pid_t tid) {
  std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status";
  FILE* f = fopen(path.c_str(), "re");
  if (!f) return -1;
  char line[256];
  pid_t tracer = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "TracerPid: %d", &tracer) == 1) break;
  fclose(f);
  return tracer;
}

// Whether a thread of `pid` has exited or is exiting: gone from /proc, or a zombie (Z) or dead (X) there.
static bool threadExiting(pid_t pid, pid_t tid) {
  std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat";
  FILE* f = fopen(path.c_str(), "re");
  if (!f) return true;
  char buf[512];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char* close = strrchr(buf, ')');  // the name may hold spaces and parentheses: the state follows the last ')'
  return !close || close[1] == 0 || close[2] == 'Z' || close[2] == 'X';
}

bool Tracer::seizeThread(pid_t tid) {
  if (ptrace(PTRACE_SEIZE, tid, nullptr, reinterpret_cast<void*>(kSeizeOptions)) == 0) {
    thread(tid);
    return true;
  }
  int err = errno;
  if (err == ESRCH) return false;  // it exited meanwhile
  // A thread just created is ours already: TRACECLONE attached it, and its clone event is still to be read.
  if (err == EPERM && tracerOf(pid_, tid) == workerTid_) {
    thread(tid);
    return true;
  }
  // A thread in the middle of exiting refuses PTRACE_SEIZE with EPERM (the kernel's ptrace_attach, exit_state set):
  // it is gone, as with ESRCH. (Seen when a target creates and ends threads every few hundred microseconds.)
  if (err == EPERM && tid != pid_ && threadExiting(pid_, tid)) return false;
  fail(err, "PTRACE_SEIZE", tid);
}

void Tracer::refreshThreads() {
  std::string dir = "/proc/" + std::to_string(pid_) + "/task";
  // Threads started between a listing and the seize of their creator are not followed yet: list until stable.
  for (int round = 0; round < 100; round++) {
    DIR* d = opendir(dir.c_str());
    if (!d) fail(errno, "opendir /proc/PID/task", pid_);
    bool added = false;
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      pid_t tid = static_cast<pid_t>(atoi(e->d_name));
      if (tid > 0 && !threads_.count(tid)) {
        try {
          if (seizeThread(tid)) added = true;
        } catch (...) {
          closedir(d);
          throw;
        }
      }
    }
    closedir(d);
    if (!added) return;
  }
}

std::vector<pid_t> Tracer::seize(pid_t pid) {
  if (attached()) failWith("E_ATTACHED", "already attached to pid " + std::to_string(pid_));
  std::string memPath = "/proc/" + std::to_string(pid) + "/mem";
  int fd = open(memPath.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) fail(errno, "open /proc/PID/mem", pid);
  if (ptrace(PTRACE_SEIZE, pid, nullptr, reinterpret_cast<void*>(kSeizeOptions)) != 0) {
    int err = errno;
    close(fd);
    fail(err, "PTRACE_SEIZE", pid);
  }
  pid_ = pid;
  {
    std::lock_guard<std::mutex> lock(memMu_);
    memFd_ = fd;
  }
  thread(pid);
  try {
    refreshThreads();
  } catch (...) {
    detach();
    throw;
  }
  std::vector<pid_t> tids;
  for (auto& kv : threads_) tids.push_back(kv.first);
  return tids;
}

void Tracer::stopThread(ThreadState& t, uint64_t deadlineNs) {
  if (t.stopped) return;
  pid_t tid = t.tid;
  t.wantStop = true;
  if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) {
    if (errno == ESRCH) return;  // exiting: its exit report removes it
    fail(errno, "PTRACE_INTERRUPT", tid);
  }
  waitUntilStopped(tid, deadlineNs);
}

void Tracer::waitUntilStopped(pid_t tid, uint64_t deadlineNs) {
  armWakeTimer(true);
  while (threads_.count(tid) && !threads_[tid].stopped) {
    int status = 0;
    pid_t r = waitAny(&status, deadlineNs);
    if (r < 0) fail(errno, "waitpid (stopping thread)", tid);
    dispatch(r, status);
  }
}

// A thread held at a clone or exec event stands inside that system call, its result not yet in its registers:
// borrowed there, it would get back -ENOSYS (pthread_create failing for a thread that exists). Let it finish the
// call and stop again at once, before it runs a single instruction of its own.
void Tracer::settleThread(pid_t tid, uint64_t deadlineNs) {
  for (int round = 0; round < 10; round++) {
    if (!threads_.count(tid)) return;
    ThreadState& t = threads_[tid];
    if (!t.stopped || t.stopEvent == 0 || t.stopEvent == PTRACE_EVENT_STOP) return;
    t.stopped = false;
    t.wantStop = true;
    ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);  // traps on its way back to user space
    ptrace(PTRACE_CONT, tid, nullptr, nullptr);
    waitUntilStopped(tid, deadlineNs);
  }
}

// Interrupt every thread first, then collect the stops in whatever order they come (faster than one by one).
void Tracer::stopAllThreads(uint64_t deadlineNs) {
  holdAll_ = true;
  refreshThreads();
  for (auto& kv : threads_) {
    ThreadState& t = kv.second;
    if (t.stopped) continue;
    t.wantStop = true;
    if (ptrace(PTRACE_INTERRUPT, t.tid, nullptr, nullptr) != 0 && errno != ESRCH) fail(errno, "PTRACE_INTERRUPT", t.tid);
  }
  armWakeTimer(true);
  auto pending = [this] {
    for (auto& kv : threads_)
      if (!kv.second.stopped) return true;
    return false;
  };
  while (attached() && pending()) {
    int status = 0;
    pid_t r = waitAny(&status, deadlineNs);
    if (r < 0) {
      if (errno == ECHILD) {
        forget();
        break;
      }
      int err = errno;
      resumeAll();
      fail(err, "waitpid (stopping all threads)", pid_);
    }
    dispatch(r, status);
  }
  if (!attached()) failWith("ESRCH", "the process exited while it was being stopped");
}

void Tracer::resumeThread(ThreadState& t) {
  if (!t.stopped) return;
  t.stopped = false;
  t.wantStop = false;
  t.stopEvent = 0;
  long r = t.groupStopped ? ptrace(PTRACE_LISTEN, t.tid, nullptr, nullptr) : ptrace(PTRACE_CONT, t.tid, nullptr, nullptr);
  (void)r;  // ESRCH: it died while stopped; its exit report follows
}

void Tracer::resumeAll() {
  holdAll_ = false;
  for (auto& kv : threads_) {
    if (kv.second.stopped) resumeThread(kv.second);
    else kv.second.wantStop = false;  // a new thread whose first stop is still to come runs on
  }
}

void Tracer::detach() {
  if (!attached()) return;
  try {
    stopAllThreads(monoNs() + kStopTimeoutNs);
  } catch (...) {
  }
  for (auto& kv : threads_) {
    // A job-control stopped thread stays stopped after PTRACE_DETACH: left as found.
    ptrace(PTRACE_DETACH, kv.first, nullptr, nullptr);
  }
  forget();
}

int64_t Tracer::readMemory(pid_t pid, uint64_t addr, void* out, size_t len) {
  size_t done = 0;
  // process_vm_readv stops at the first unmapped page: keep going page by page to report exactly where.
  while (done < len) {
    struct iovec local = {static_cast<char*>(out) + done, len - done};
    struct iovec remote = {reinterpret_cast<void*>(addr + done), len - done};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n < 0) {
      if (done == 0) return -errno;
      break;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<int64_t>(done);
}

// Up to `len` bytes from a stopped thread's stack pointer `sp`: fewer where the mapping ends, none when it points nowhere.
std::vector<uint8_t> Tracer::readStack(uint64_t sp, uint64_t len) {
  std::vector<uint8_t> bytes(len);
  int64_t n = readMemory(pid_, sp, bytes.data(), bytes.size());
  bytes.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return bytes;
}

int64_t Tracer::writeMemory(uint64_t addr, const void* data, size_t len) {
  std::lock_guard<std::mutex> lock(memMu_);
  if (memFd_ < 0) return -ESRCH;
  ssize_t n = pwrite(memFd_, data, len, static_cast<off_t>(addr));
  return n < 0 ? -errno : static_cast<int64_t>(n);
}

void Tracer::writeCode(uint64_t addr, const std::vector<uint8_t>& bytes) {
  ssize_t n = pwrite(memFd_, bytes.data(), bytes.size(), static_cast<off_t>(addr));
  if (n < 0) fail(errno, "pwrite /proc/PID/mem", pid_);
  if (static_cast<size_t>(n) != bytes.size()) fail(EIO, "pwrite /proc/PID/mem (short write)", pid_);
}

// Borrow one thread: save everything, run a function or a system call on it, restore everything.
OpResult Tracer::remoteCall(Op& op) {
  pid_t tid = op.tid ? op.tid : pid_;
  if (!threads_.count(tid)) failWith("ESRCH", "thread " + std::to_string(tid) + " is not a thread of the target");
  ThreadState& t = threads_[tid];
  bool wasStopped = t.stopped;
  stopThread(t, monoNs() + kStopTimeoutNs);
  settleThread(tid, monoNs() + kStopTimeoutNs);
  if (!threads_.count(tid)) failWith("ESRCH", "thread " + std::to_string(tid) + " exited");

  arch::Regs saved, regs;
  arch::VectorState savedVec;
  uint64_t savedMask = 0, callMask = ~0ULL;
  pt(PTRACE_GETREGS, tid, nullptr, &saved, "PTRACE_GETREGS");
  // Through the stub (a call returning into it, or a system call made by its own `syscall` instruction, which the
  // stub's return sequence follows): should we die meanwhile, the thread restores itself from a signal frame.
  bool stub = op.returnStub != 0 && op.stubSignal > 0 && op.stubSignal <= 64;
  bool viaStub = stub && op.kind == Op::Syscall;
  // A system call leaves the vector registers alone (the kernel keeps them); a function may use any of them. The
  // frame a stub may restore from needs them either way.
  bool vectors = op.kind == Op::Call || stub;
  if (vectors && !arch::saveVectorState(tid, savedVec)) fail(errno, "PTRACE_GETREGSET NT_X86_XSTATE", tid);
  pt(PTRACE_GETSIGMASK, tid, reinterpret_cast<void*>(sizeof savedMask), &savedMask, "PTRACE_GETSIGMASK");
  bool groupStopped = t.groupStopped;
  bool deferredStubSignal = false;  // the stub's signal sent by someone else during the call: sent again after

  auto restore = [&] {
    ptrace(PTRACE_SETREGS, tid, nullptr, &saved);
    if (vectors) arch::restoreVectorState(tid, savedVec);
    ptrace(PTRACE_SETSIGMASK, tid, reinterpret_cast<void*>(sizeof savedMask), &savedMask);
    if (deferredStubSignal) syscall(SYS_tgkill, pid_, tid, op.stubSignal);  // pending until it runs its own code
    if (!threads_.count(tid)) return;
    ThreadState& r = threads_[tid];
    r.stopped = true;
    r.groupStopped = false;
    r.stopEvent = 0;
    if (groupStopped) {
      // It stands in the signal-delivery-stop of our trap, where PTRACE_LISTEN is refused (EIO) and the next
      // PTRACE_INTERRUPT would never be answered. Let it trap into a PTRACE_EVENT_STOP instead: the job-control
      // stop still in force shows there (as SIGSTOP), and it can listen from that stop as before.
      r.stopped = false;
      r.wantStop = true;
      ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
      ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      try {
        waitUntilStopped(tid, monoNs() + kStopTimeoutNs);
      } catch (...) {
        return;
      }
      if (!threads_.count(tid)) return;
    }
    if (!wasStopped && !holdAll_) resumeThread(threads_[tid]);
  };

  regs = saved;
  if (viaStub) {
    // op.addr is the stub page's own `syscall`; the stub's return sequence follows it, with rsp at the frame.
    arch::ReturnFrame frame = arch::buildReturnFrame(arch::scratchTop(saved), saved, savedMask, savedVec, 0);
    writeCode(frame.start, frame.bytes);
    arch::prepareSyscall(regs, op.addr, op.sysno, op.args, op.nargs);
    arch::setStackPointer(regs, frame.returnSlot + 8);
  } else if (op.kind == Op::Syscall) {
    arch::prepareSyscall(regs, op.addr, op.sysno, op.args, op.nargs);
  } else {
    uint64_t top = arch::scratchTop(saved);
    if (!op.data.empty()) {
      top = (top - op.data.size()) & ~uint64_t(15);
      writeCode(top, op.data);
      if (op.stackDataArg >= 0 && op.stackDataArg < 6) op.args[op.stackDataArg] = top;
    }
    uint64_t returnSlot = top - 8;  // aligned top minus the pushed return address
    if (stub) {
      // Should we die while it runs, the callee returns into the stub, which restores the thread from this frame.
      arch::ReturnFrame frame = arch::buildReturnFrame(top, saved, savedMask, savedVec, op.returnStub);
      writeCode(frame.start, frame.bytes);
      returnSlot = frame.returnSlot;
    } else {
      std::vector<uint8_t> zero(8, 0);
      writeCode(returnSlot, zero);
    }
    arch::prepareCall(regs, op.addr, op.args, op.nargs, returnSlot);
  }
  // Signals stay pending while we borrow the thread; they arrive, in order, once its own mask is back. The stub's
  // own signal must get through: it is how the stub stops for us.
  if (stub) callMask &= ~(1ULL << (op.stubSignal - 1));
  pt(PTRACE_SETSIGMASK, tid, reinterpret_cast<void*>(sizeof callMask), &callMask, "PTRACE_SETSIGMASK");
  pt(PTRACE_SETREGS, tid, nullptr, &regs, "PTRACE_SETREGS");
  t.stopped = false;
  t.wantStop = false;
  bool stepping = op.kind == Op::Syscall && !viaStub;
  pt(stepping ? PTRACE_SINGLESTEP : PTRACE_CONT, tid, nullptr, nullptr, "PTRACE_CONT");

  uint64_t deadline = monoNs() + uint64_t(op.timeoutMs > 0 ? op.timeoutMs : 2000) * 1'000'000ULL;
  OpResult out;
  out.tid = tid;
  while (true) {
    int status = waitThread(tid, deadline);
    if (status == -1 && errno == ETIMEDOUT) {
      // Undo: stop it wherever it is and put back the state it had.
      threads_[tid].wantStop = true;
      ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
      while (threads_.count(tid)) {
        int st = waitThread(tid, monoNs() + kStopTimeoutNs);
        if (st == -1) break;
        if (WIFSTOPPED(st) && (st >> 16) == PTRACE_EVENT_STOP) break;
        if (WIFSTOPPED(st) && (st >> 16) == 0) continue;  // a signal while blocked: dropped only if it is ours
        if (!WIFSTOPPED(st)) {
          dispatch(tid, st);
          break;
        }
      }
      if (threads_.count(tid)) restore();
      failWith("ETIMEDOUT", "the remote " + std::string(op.kind == Op::Syscall ? "system call" : "call") + " at 0x" +
                                [&] { char b[32]; snprintf(b, sizeof b, "%llx", (unsigned long long)op.addr); return std::string(b); }() +
                                " did not return within " + std::to_string(op.timeoutMs) +
                                " ms (another thread may hold a lock it needs); the thread was restored");
    }
    if (status == -1) fail(errno, "waitpid (remote call)", tid);
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      dispatch(tid, status);
      failWith("ESRCH", "the target died during the remote call");
    }
    if (!WIFSTOPPED(status)) continue;
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    if (event == PTRACE_EVENT_EXIT) {
      ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      continue;
    }
    if (event == PTRACE_EVENT_STOP) {
      // A job-control stop while we borrow the thread: finish our call first, restore the stop afterwards.
      if (isStopSignal(sig)) groupStopped = true;
      ptrace(stepping ? PTRACE_SINGLESTEP : PTRACE_CONT, tid, nullptr, nullptr);
      continue;
    }
    if (event == PTRACE_EVENT_CLONE) {
      dispatch(tid, status);  // records the new thread; re-resumes below
      threads_[tid].stopped = false;
      ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      continue;
    }
    if (event != 0) {
      ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      continue;
    }
    arch::Regs now;
    pt(PTRACE_GETREGS, tid, nullptr, &now, "PTRACE_GETREGS");
    if (stub && sig == op.stubSignal && arch::pc(now) != op.stubDone) {
      deferredStubSignal = true;  // not ours: held back until the thread is its own again
      ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      continue;
    }
    bool done = stub       ? (sig == op.stubSignal && arch::pc(now) == op.stubDone)
                : stepping ? (sig == SIGTRAP && arch::steppedOverSyscall(now, op.addr))
                           : (sig == SIGSEGV && arch::returnedToTrap(now));
    if (done) {
      out.ran = true;
      out.value = stub ? arch::stubReturnValue(now) : arch::returnValue(now);
      restore();  // resuming from this signal-delivery-stop with signal 0 discards our trap
      return out;
    }
    if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP) {
      restore();
      char where[64];
      snprintf(where, sizeof where, "0x%llx", static_cast<unsigned long long>(arch::pc(now)));
      failWith("E_REMOTE_FAULT", std::string("the remote call faulted (") + strsignal(sig) + " at " + where +
                                     "); the thread was restored and the signal discarded");
    }
    // Anything else was blocked by our mask and cannot be here, except the unblockable: pass it on.
    ptrace(PTRACE_CONT, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
  }
}

// Run `fn` on one thread while it is stopped: stopping it alone if the plan did not stop everything.
void Tracer::withThreadStopped(pid_t tid, const std::function<void(pid_t)>& fn) {
  tid = tid ? tid : pid_;
  if (!threads_.count(tid)) failWith("ESRCH", "thread " + std::to_string(tid) + " is not a thread of the target");
  ThreadState& t = threads_[tid];
  bool was = t.stopped;
  if (!was) stopThread(t, monoNs() + kStopTimeoutNs);
  if (!threads_.count(tid)) failWith("ESRCH", "thread " + std::to_string(tid) + " exited");
  fn(tid);
  if (!was && !holdAll_) resumeThread(threads_[tid]);
}

PlanResult Tracer::runPlan(Plan& plan) {
  if (!attached()) failWith("E_NO_TARGET", "not attached to a process");
  PlanResult res;
  bool heldBefore = holdAll_;  // the user froze the target with `stop`: leave it frozen
  uint64_t t0 = monoNs();
  if (plan.stopAll) {
    for (int attempt = 0;; attempt++) {
      stopAllThreads(t0 + kStopTimeoutNs);
      bool clear = true;
      if (!plan.guardRanges.empty()) {
        auto guarded = [&](uint64_t a) {
          for (auto& g : plan.guardRanges)
            if (a >= g.first && a < g.second) return true;
          return false;
        };
        std::vector<uint64_t> words(plan.guardStackBytes / 8);
        for (auto& kv : threads_) {
          arch::Regs r;
          if (ptrace(PTRACE_GETREGS, kv.first, nullptr, &r) != 0) continue;
          if (guarded(arch::pc(r))) clear = false;
          if (!clear || words.empty()) continue;
          int64_t n = readMemory(pid_, arch::sp(r), words.data(), words.size() * 8);
          for (int64_t i = 0; clear && i < n / 8; i++)
            if (guarded(words[static_cast<size_t>(i)])) clear = false;
        }
      }
      if (clear) break;
      if (heldBefore) failWith("E_BUSY", "a thread of the frozen target stands inside the bytes to be changed; `cont` first");
      resumeAll();
      if (attempt + 1 >= plan.guardAttempts)
        failWith("E_BUSY", "a thread kept executing the bytes to be changed after " + std::to_string(attempt + 1) +
                               " tries; try again when the function is less busy");
      res.guardRetries++;
      struct timespec nap = {0, 200'000};  // let it move on
      nanosleep(&nap, nullptr);
    }
    res.threadsPaused = static_cast<int>(threads_.size());
  }
  uint64_t t1 = monoNs();

  // Every write remembers what it replaced, so a failing step puts the target back as it was.
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> undo;
  auto rollback = [&] {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) pwrite(memFd_, it->second.data(), it->second.size(), static_cast<off_t>(it->first));
    res.rolledBack = !undo.empty();
  };
  uint64_t previous = 1;
  try {
    for (auto& op : plan.ops) {
      OpResult r;
      if (op.onlyIfPreviousZero && previous != 0) {
        res.results.push_back(r);
        continue;
      }
      switch (op.kind) {
        case Op::Regs:
          r.data.resize(sizeof(arch::Regs));
          withThreadStopped(op.tid, [&](pid_t tid) { pt(PTRACE_GETREGS, tid, nullptr, r.data.data(), "PTRACE_GETREGS"); });
          r.ran = true;
          break;
        case Op::FpRegs:
          r.data.resize(sizeof(arch::FpRegs));
          withThreadStopped(op.tid, [&](pid_t tid) { pt(PTRACE_GETFPREGS, tid, nullptr, r.data.data(), "PTRACE_GETFPREGS"); });
          r.ran = true;
          break;
        case Op::SetRegs:
          if (op.data.size() != sizeof(arch::Regs)) failWith("E_BAD_ARGUMENT", "register block has the wrong size");
          withThreadStopped(op.tid, [&](pid_t tid) { pt(PTRACE_SETREGS, tid, nullptr, op.data.data(), "PTRACE_SETREGS"); });
          r.ran = true;
          break;
        case Op::Stack:
          r.regs.resize(sizeof(arch::Regs));
          withThreadStopped(op.tid, [&](pid_t tid) {
            pt(PTRACE_GETREGS, tid, nullptr, r.regs.data(), "PTRACE_GETREGS");
            r.data = readStack(arch::sp(*reinterpret_cast<arch::Regs*>(r.regs.data())), op.len);
          });
          r.tid = op.tid;
          r.ran = true;
          break;
        case Op::Read: {
          r.data.resize(op.len);
          int64_t n = readMemory(pid_, op.addr, r.data.data(), op.len);
          if (n < 0) fail(static_cast<int>(-n), "process_vm_readv", pid_);
          r.data.resize(static_cast<size_t>(n));
          r.ran = true;
          break;
        }
        case Op::Write: {
          std::vector<uint8_t> before(op.data.size());
          ssize_t n = pread(memFd_, before.data(), before.size(), static_cast<off_t>(op.addr));
          if (n != static_cast<ssize_t>(before.size())) fail(n < 0 ? errno : EIO, "pread /proc/PID/mem", pid_);
          writeCode(op.addr, op.data);
          undo.emplace_back(op.addr, std::move(before));
          r.data = undo.back().second;
          r.ran = true;
          break;
        }
        case Op::Call:
        case Op::Syscall:
          r = remoteCall(op);
          previous = r.value;
          if (op.hasExpect && r.value != op.expect) {
            char buf[96];
            snprintf(buf, sizeof buf, "a remote step returned 0x%llx, expected 0x%llx", (unsigned long long)r.value,
                     (unsigned long long)op.expect);
            Fault f{"E_REMOTE_RESULT", buf, ""};
            f.hasValue = true;
            f.value = r.value;
            throw f;
          }
          break;
      }
      res.results.push_back(std::move(r));
    }
  } catch (Fault& f) {
    if (attached()) {
      rollback();
      if (plan.stopAll && !plan.keepStopped && !heldBefore) resumeAll();
    }
    f.opIndex = static_cast<int>(res.results.size());
    for (auto& r : res.results) f.completed.push_back(r.value);
    f.rolledBack = res.rolledBack;
    throw;
  } catch (...) {
    if (attached()) {
      rollback();
      if (plan.stopAll && !plan.keepStopped && !heldBefore) resumeAll();
    }
    throw;
  }
  uint64_t t2 = monoNs();
  res.workNs = t2 - t1;
  if (plan.captureThreads) {
    for (auto& kv : threads_) {
      ThreadSnapshot s{kv.first, std::vector<uint8_t>(sizeof(arch::Regs)), kv.second.groupStopped, {}};
      if (ptrace(PTRACE_GETREGS, kv.first, nullptr, s.regs.data()) != 0) s.regs.clear();
      else if (plan.captureStackBytes) s.stack = readStack(arch::sp(*reinterpret_cast<arch::Regs*>(s.regs.data())), plan.captureStackBytes);
      res.threads.push_back(std::move(s));
    }
  }
  if (plan.stopAll && !plan.keepStopped && !heldBefore) resumeAll();
  res.pauseNs = monoNs() - t0;
  return res;
}

}  // namespace hp
