// The x86-64 register conventions the tracer needs for remote calls; aarch64 gets its own header.
#pragma once

#include <cpuid.h>
#include <elf.h>
#include <stddef.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>

#include <cstdint>
#include <vector>

namespace hp::arch {

using Regs = struct user_regs_struct;
using FpRegs = struct user_fpregs_struct;

inline uint64_t pc(const Regs& r) { return r.rip; }
inline uint64_t sp(const Regs& r) { return r.rsp; }
inline uint64_t returnValue(const Regs& r) { return r.rax; }

// Below the red zone (128 bytes) with room to spare, 16-byte aligned.
inline uint64_t scratchTop(const Regs& r) { return (r.rsp - 256) & ~uint64_t(15); }

// A call frame as the callee expects it after `call`: rsp ≡ 8 (mod 16) with the return address at [rsp].
// `orig_rax = -1` keeps the kernel from restarting an interrupted system call into our function.
inline void prepareCall(Regs& r, uint64_t fn, const uint64_t* args, int nargs, uint64_t returnSlot) {
  unsigned long long* slots[6] = {&r.rdi, &r.rsi, &r.rdx, &r.rcx, &r.r8, &r.r9};
  for (int i = 0; i < nargs && i < 6; i++) *slots[i] = args[i];
  r.rip = fn;
  r.rsp = returnSlot;
  r.rax = 0;  // al = number of vector registers for a variadic callee
  r.orig_rax = static_cast<uint64_t>(-1);
}

inline void prepareSyscall(Regs& r, uint64_t syscallInsn, uint64_t nr, const uint64_t* args, int nargs) {
  unsigned long long* slots[6] = {&r.rdi, &r.rsi, &r.rdx, &r.r10, &r.r8, &r.r9};
  for (int i = 0; i < nargs && i < 6; i++) *slots[i] = args[i];
  r.rip = syscallInsn;
  r.rax = nr;
  r.orig_rax = static_cast<uint64_t>(-1);
}

inline void setStackPointer(Regs& r, uint64_t sp) { r.rsp = sp; }

// A return to the address 0 we pushed faults with rip = 0.
inline bool returnedToTrap(const Regs& r) { return r.rip == 0; }

// The `syscall` instruction is 2 bytes; after a single-step rip points just past it.
inline bool steppedOverSyscall(const Regs& r, uint64_t syscallInsn) { return r.rip == syscallInsn + 2; }

// ---- The vector state (x87, SSE, AVX, AVX-512, PKRU): all of it, not only the legacy 512-byte FXSAVE part ----
// PTRACE_GETFPREGS covers x87 and SSE alone: a borrowed thread whose callee ends with `vzeroupper` (glibc's AVX2
// string functions) would lose the upper halves of its ymm/zmm registers. NT_X86_XSTATE is the whole XSAVE area
// in standard format, its software bytes (offset 464) filled in as for a signal frame.
struct VectorState {
  std::vector<uint8_t> bytes;
  bool xsave = false;  // XSAVE layout (else FXSAVE, 512 bytes)
};

inline bool saveVectorState(pid_t tid, VectorState& out) {
  out.bytes.assign(16384, 0);
  struct iovec iov = {out.bytes.data(), out.bytes.size()};
  if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) == 0) {
    out.bytes.resize(iov.iov_len);
    out.xsave = true;
    return true;
  }
  out.bytes.assign(sizeof(FpRegs), 0);
  out.xsave = false;
  return ptrace(PTRACE_GETFPREGS, tid, nullptr, out.bytes.data()) == 0;
}

inline bool restoreVectorState(pid_t tid, VectorState& s) {
  if (s.xsave) {
    struct iovec iov = {s.bytes.data(), s.bytes.size()};
    return ptrace(PTRACE_SETREGSET, tid, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) == 0;
  }
  return ptrace(PTRACE_SETFPREGS, tid, nullptr, s.bytes.data()) == 0;
}

// ---- A return path that needs no tracer: the callee returns into our stub, which ends in rt_sigreturn ----
// The kernel's x86-64 signal frame, as rt_sigreturn reads it (arch/x86/include/uapi/asm/sigcontext.h and
// asm-generic/ucontext.h): at the `syscall`, rsp points at the ucontext, the 8 bytes below it being the return
// address a handler's `ret` popped (our return slot).
struct KernelSigcontext {
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
  uint16_t cs, gs, fs, ss;
  uint64_t err, trapno, oldmask, cr2, fpstate;
  uint64_t reserved1[8];
};
struct KernelUcontext {
  uint64_t flags;
  uint64_t link;
  uint64_t ssSp;  // uc_stack: filled by the stub itself with sigaltstack(NULL, &uc_stack)
  int32_t ssFlags;
  int32_t pad;
  uint64_t ssSize;
  KernelSigcontext mcontext;
  uint64_t sigmask;
};
static_assert(sizeof(KernelSigcontext) == 256, "x86-64 struct sigcontext");
static_assert(offsetof(KernelUcontext, mcontext) == 40, "x86-64 struct ucontext");
static_assert(sizeof(KernelUcontext) == 304, "x86-64 struct ucontext");

constexpr uint64_t kUcFpXstate = 0x1, kUcSigcontextSs = 0x2;
constexpr uint32_t kFpXstateMagic1 = 0x46505853, kFpXstateMagic2 = 0x46505845;

// The stub reports its return value in rbx (rax is needed for its own system calls).
inline uint64_t stubReturnValue(const Regs& r) { return r.rbx; }

struct ReturnFrame {
  uint64_t returnSlot;  // rsp at the callee's entry: [returnSlot] = stub
  uint64_t start;       // the bytes to write begin here (== returnSlot) …
  std::vector<uint8_t> bytes;
};

// The signal-frame form of an XSAVE area read by ptrace. ptrace puts XCR0 in the software bytes (offset 464); a
// signal frame wants `struct _fpx_sw_bytes` there (magic1, extended_size, xfeatures, xstate_size) and magic2 right
// after xstate_size bytes. xstate_size may not exceed what this task may use: AMX tile state (features 17, 18) only
// when the thread has it in use, so otherwise the area ends with the highest other feature (CPUID leaf 0xD).
struct SigXstate {
  uint64_t xfeatures = 0;
  uint32_t size = 0;
};

inline bool sigframeXstate(const VectorState& vs, SigXstate& out) {
  if (!vs.xsave || vs.bytes.size() < 512 + 64) return false;
  uint64_t xcr0, xstateBv;
  memcpy(&xcr0, vs.bytes.data() + 464, 8);
  memcpy(&xstateBv, vs.bytes.data() + 512, 8);
  constexpr uint64_t kAmx = (1ULL << 17) | (1ULL << 18);
  uint64_t features = (xstateBv & kAmx) ? xcr0 : (xcr0 & ~kAmx);
  uint32_t end = 576;  // legacy area + XSAVE header
  for (unsigned i = 2; i < 64; i++) {
    if (!(features & (1ULL << i))) continue;
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid_count(0xd, i, &eax, &ebx, &ecx, &edx) || eax == 0) continue;
    if (ebx + eax > end) end = ebx + eax;
  }
  if (end > vs.bytes.size()) return false;
  out.xfeatures = features;
  out.size = end;
  return true;
}

// Lay the frame out below `top` (16-aligned): vector state 64-aligned on top, then the ucontext, then the return
// slot, which ends ≡ 8 (mod 16) as a callee expects. The saved registers go in as the thread should resume: an
// interrupted system call the kernel would have restarted (rax = -ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND,
// -ERESTART_RESTARTBLOCK) is set up to be issued again, as rt_sigreturn itself never restarts one.
inline ReturnFrame buildReturnFrame(uint64_t top, const Regs& saved, uint64_t sigmask, const VectorState& vs, uint64_t stub) {
  SigXstate sx;
  bool xsave = sigframeXstate(vs, sx);
  uint32_t xstateSize = xsave ? sx.size : 512;
  size_t fpSpace = xsave ? xstateSize + 4 : 512;
  uint64_t fpAt = (top - fpSpace) & ~uint64_t(63);
  uint64_t ucAt = (fpAt - sizeof(KernelUcontext)) & ~uint64_t(15);
  ReturnFrame f;
  f.returnSlot = f.start = ucAt - 8;
  f.bytes.assign(fpAt + fpSpace - f.start, 0);
  memcpy(f.bytes.data(), &stub, 8);

  KernelUcontext uc = {};
  uc.flags = (xsave ? kUcFpXstate : 0) | kUcSigcontextSs;
  uc.sigmask = sigmask;
  KernelSigcontext& m = uc.mcontext;
  m.r8 = saved.r8, m.r9 = saved.r9, m.r10 = saved.r10, m.r11 = saved.r11;
  m.r12 = saved.r12, m.r13 = saved.r13, m.r14 = saved.r14, m.r15 = saved.r15;
  m.rdi = saved.rdi, m.rsi = saved.rsi, m.rbp = saved.rbp, m.rbx = saved.rbx;
  m.rdx = saved.rdx, m.rax = saved.rax, m.rcx = saved.rcx, m.rsp = saved.rsp;
  m.rip = saved.rip, m.eflags = saved.eflags;
  m.cs = static_cast<uint16_t>(saved.cs), m.ss = static_cast<uint16_t>(saved.ss);
  m.fs = static_cast<uint16_t>(saved.fs), m.gs = static_cast<uint16_t>(saved.gs);
  m.fpstate = fpAt;
  int64_t err = static_cast<int64_t>(saved.rax);
  if (static_cast<int64_t>(saved.orig_rax) >= 0 && (err == -512 || err == -513 || err == -514 || err == -516)) {
    m.rax = saved.orig_rax;  // the call again, with its own arguments (still in rdi, rsi, rdx, r10, r8, r9)
    m.rip = saved.rip - 2;   // back onto the 2-byte `syscall`
  }
  memcpy(f.bytes.data() + (ucAt - f.start), &uc, sizeof uc);
  uint8_t* fp = f.bytes.data() + (fpAt - f.start);
  memcpy(fp, vs.bytes.data(), xsave ? xstateSize : 512);
  if (xsave) {
    uint32_t extended = xstateSize + 4;
    memcpy(fp + 464, &kFpXstateMagic1, 4);
    memcpy(fp + 468, &extended, 4);
    memcpy(fp + 472, &sx.xfeatures, 8);
    memcpy(fp + 480, &xstateSize, 4);
    memset(fp + 484, 0, 512 - 484);
    memcpy(fp + xstateSize, &kFpXstateMagic2, 4);
  } else {
    memset(fp + 464, 0, 512 - 464);  // no magic: the kernel takes it as FXSAVE only
  }
  return f;
}

}  // namespace hp::arch
