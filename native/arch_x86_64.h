// The x86-64 register conventions the tracer needs for remote calls; aarch64 gets its own header.
#pragma once

#include <sys/user.h>

#include <cstdint>

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

// A return to the address 0 we pushed faults with rip = 0.
inline bool returnedToTrap(const Regs& r) { return r.rip == 0; }

// The `syscall` instruction is 2 bytes; after a single-step rip points just past it.
inline bool steppedOverSyscall(const Regs& r, uint64_t syscallInsn) { return r.rip == syscallInsn + 2; }

}  // namespace hp::arch
