// The return stub of remote calls: where a borrowed thread returns when the function we made it call is done.
//
// While hotpatch traces the target, the stub stops at `doneOffset` on a signal it raises on its own thread, and the
// tracer puts the thread back as it was (registers, vector state, signal mask). Should hotpatch be gone by then
// (SIGKILL, a crash, a lost machine), nothing sees that signal: SIGURG is ignored by default, so the stub goes on
// and returns the thread to its own code itself with rt_sigreturn, from the signal frame the tracer left on the
// thread's stack before the call. Returning to address 0 instead (the usual trick) kills the process in that case.

/** SIGURG: ignored unless the program asked for it, and a tracer sees it even then. */
export const STUB_SIGNAL = 23;

// Encoded by hand: 12 fixed instructions, no operands that depend on where the stub sits (a unit test decodes them).
const STUB = [
  [0x48, 0x89, 0xc3], //               mov rbx, rax          keep the return value (rax is needed below)
  [0xb8, 0xba, 0x00, 0x00, 0x00], //   mov eax, 186          gettid
  [0x0f, 0x05], //                     syscall
  [0x89, 0xc6], //                     mov esi, eax          tid
  [0xb8, 0x27, 0x00, 0x00, 0x00], //   mov eax, 39           getpid
  [0x0f, 0x05], //                     syscall
  [0x89, 0xc7], //                     mov edi, eax          tgid
  [0xba, STUB_SIGNAL, 0x00, 0x00, 0x00], // mov edx, SIGURG
  [0xb8, 0xea, 0x00, 0x00, 0x00], //   mov eax, 234          tgkill(tgid, tid, SIGURG): the tracer stops us here
  [0x0f, 0x05], //                     syscall
  // done: only reached untraced. rsp points at the ucontext the tracer wrote; its uc_stack is filled in now, as
  // rt_sigreturn also restores the alternate signal stack (this leaves it unchanged).
  [0x31, 0xff], //                     xor edi, edi
  [0x48, 0x8d, 0x74, 0x24, 0x10], //   lea rsi, [rsp+16]     &uc.uc_stack
  [0xb8, 0x83, 0x00, 0x00, 0x00], //   mov eax, 131          sigaltstack(NULL, &uc.uc_stack)
  [0x0f, 0x05], //                     syscall
  [0xb8, 0x0f, 0x00, 0x00, 0x00], //   mov eax, 15           rt_sigreturn: registers, vector state, mask, restart
  [0x0f, 0x05], //                     syscall
  [0x0f, 0x0b], //                     ud2                   never reached
];

export const RETURN_STUB = Uint8Array.from(STUB.flat());
/** Offset of the instruction after the tgkill `syscall`: the pc the tracer sees when the call is done. */
export const STUB_DONE_OFFSET = STUB.slice(0, 10).reduce((n, insn) => n + insn.length, 0);
