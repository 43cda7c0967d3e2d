// Every error code hotpatch gives, with its meaning and the hint shown when the place that threw gave none.
// docs/errors.md is rendered from this table (npm run docs:errors); test/errors.test.ts keeps the two in step.

/** The groups docs/errors.md lists the codes in, in that order. */
export const ERROR_GROUPS = {
  kernel: 'Kernel errors (errno names, as the system call gave them)',
  target: 'Attaching, the target and remote calls',
  symbols: 'Addresses, symbols and registers',
  files: 'ELF and DWARF files',
  load: 'Loading and unloading libraries',
  patch: 'Redirecting and reverting',
  record: 'The patch record',
  usage: 'Usage',
  internal: 'Inside hotpatch',
} as const;

export type ErrorGroup = keyof typeof ERROR_GROUPS;

export interface ErrorInfo {
  readonly group: ErrorGroup;
  /** What the code means, in one line. */
  readonly meaning: string;
  /** The hint when the error itself carries none. */
  readonly hint?: string;
}

export const ERRORS = {
  // Kernel errors keep their errno name as the code: scripts know them, and so does `man errno`.
  EPERM: {
    group: 'kernel',
    meaning: 'operation not permitted: ptrace refused (another user, ptrace_scope, a protected process), or a seccomp filter forbade a system call in the target',
    hint: 'ptrace needs the same user (or root/CAP_SYS_PTRACE) and a permissive /proc/sys/kernel/yama/ptrace_scope',
  },
  ENOENT: { group: 'kernel', meaning: 'no such file or directory', hint: 'no such file' },
  ESRCH: {
    group: 'kernel',
    meaning: 'no such process or thread: the target exited, was killed, is a zombie, or the thread is not one we trace',
    hint: 'the process or thread is gone (or not traced by us): check the pid with ps',
  },
  EINTR: { group: 'kernel', meaning: 'a system call was interrupted by a signal', hint: 'try again' },
  EIO: { group: 'kernel', meaning: 'input/output error: through ptrace or /proc/PID/mem, an address not mapped in the target', hint: 'the address is not mapped in the target' },
  EBADF: { group: 'kernel', meaning: 'bad file descriptor' },
  ECHILD: { group: 'kernel', meaning: 'no child to wait for: the thread waited for is no longer traced', hint: 'the target may have exited; attach again' },
  EAGAIN: { group: 'kernel', meaning: 'resource temporarily unavailable', hint: 'try again' },
  ENOMEM: {
    group: 'kernel',
    meaning: 'out of memory, or no free address range in the target where one was needed',
    hint: 'the target\'s address space (or its memory limit) is exhausted there',
  },
  EACCES: { group: 'kernel', meaning: 'permission denied', hint: 'permission denied: run as the process owner or as root' },
  EFAULT: { group: 'kernel', meaning: 'bad address: not mapped in the target (or not readable/writable there)', hint: 'the address is not mapped in the target' },
  EBUSY: { group: 'kernel', meaning: 'busy: the process is already traced (by gdb, strace, another hotpatch)', hint: 'the process is already traced by another tool' },
  EEXIST: { group: 'kernel', meaning: 'already exists: for mmap, the address range asked for is taken', hint: 'try again' },
  ENOTDIR: { group: 'kernel', meaning: 'a part of the path is not a directory', hint: 'check the path' },
  EISDIR: { group: 'kernel', meaning: 'a directory where a file was expected', hint: 'give the path of a file' },
  EINVAL: { group: 'kernel', meaning: 'invalid argument to a system call' },
  ENFILE: { group: 'kernel', meaning: 'too many open files in the system' },
  EMFILE: { group: 'kernel', meaning: 'too many open files in this process', hint: 'raise the limit (ulimit -n)' },
  ENOSPC: { group: 'kernel', meaning: 'no space left on the device', hint: 'free some disk space' },
  EROFS: { group: 'kernel', meaning: 'a read-only file system', hint: 'name a file on a writable file system' },
  ENAMETOOLONG: { group: 'kernel', meaning: 'a file name too long', hint: 'check the path' },
  ELOOP: { group: 'kernel', meaning: 'too many symbolic links in the path', hint: 'check the path' },
  ENOSYS: { group: 'kernel', meaning: 'the system call is not implemented (by this kernel, or a seccomp filter says so)' },
  EOVERFLOW: { group: 'kernel', meaning: 'a value too large (for mmap, a size or offset out of range)' },
  ETIMEDOUT: {
    group: 'kernel',
    meaning: 'did not finish in time: a remote call or system call in the target, or stopping its threads',
    hint: 'try again in a moment',
  },
  E_KERNEL: {
    group: 'kernel',
    meaning: 'a kernel error this table does not list: the message ends with its errno name',
    hint: 'see `man errno` for that name',
  },

  E_BAD_PID: { group: 'target', meaning: 'not a process id', hint: 'give a positive number, e.g. attach 4242' },
  E_SELF: { group: 'target', meaning: 'hotpatch cannot attach to itself', hint: 'attach to another process' },
  E_OWN_CHILD: {
    group: 'target',
    meaning: 'the process is a child of this hotpatch process (Node reaps its children\'s wait statuses, ptrace stops included)',
    hint: 'start the target from another process (e.g. a shell) and attach to that',
  },
  E_NO_PROCESS: { group: 'target', meaning: 'no process has that name (as pgrep matches it: the name in /proc/PID/comm)', hint: 'ps -e lists the processes; give a pid, or start the program with hotpatch -- PROG ARGS' },
  E_AMBIGUOUS_PROCESS: { group: 'target', meaning: 'several processes have that name', hint: 'give one of the listed pids' },
  E_SPAWN: { group: 'target', meaning: 'the program to start could not be started (not found, not executable, or it exited at once)', hint: 'check the path and its log' },
  E_ATTACHED: { group: 'target', meaning: 'already attached to a process', hint: 'detach first' },
  E_NO_TARGET: { group: 'target', meaning: 'no process attached (or no thread to read a register from)', hint: 'attach PID first (or start with hotpatch -p PID)' },
  E_PID_REUSED: { group: 'target', meaning: 'the pid now names another process: the target exited and its pid was given again', hint: 'the target exited; attach again' },
  E_CLOSED: { group: 'target', meaning: 'the tracer of the target is closed (after detach, or once the target exited)', hint: 'attach again' },
  E_BAD_MAPS: { group: 'target', meaning: 'a line of /proc/PID/maps hotpatch cannot parse' },
  E_NO_SYSCALL: { group: 'target', meaning: 'no system call instruction in the target\'s code to make system calls with', hint: 'is libc mapped?' },
  E_BUSY: { group: 'target', meaning: 'a thread stands in (or keeps running) the bytes to be changed, or the code of a library to be unloaded' },
  E_REMOTE_FAULT: {
    group: 'target',
    meaning: 'a function called in the target faulted (SIGSEGV, SIGBUS, …); the thread was restored and the signal discarded',
    hint: 'check the function and its arguments',
  },
  E_REMOTE_RESULT: { group: 'target', meaning: 'a step in the target returned another value than the one expected (an mmap not placed where asked)' },
  E_REMOTE_SYSCALL: { group: 'target', meaning: 'a system call made in the target failed with an errno this table does not name' },

  E_BAD_ADDRESS: { group: 'symbols', meaning: 'an address expression that does not parse, or lies outside 64 bits' },
  E_BAD_REGISTER: { group: 'symbols', meaning: 'not a (full) register of this architecture' },
  E_UNKNOWN_SYMBOL: { group: 'symbols', meaning: 'no symbol of that name in the target' },
  E_AMBIGUOUS_SYMBOL: { group: 'symbols', meaning: 'several symbols match the name', hint: 'type one of the listed spellings' },
  E_UNKNOWN_MODULE: { group: 'symbols', meaning: 'no module of that name mapped, or no library of that name or #ID loaded by hotpatch' },
  E_AMBIGUOUS_MODULE: { group: 'symbols', meaning: 'several modules match the name', hint: 'type one of the listed names' },
  E_TLS_SYMBOL: { group: 'symbols', meaning: 'a thread-local variable: each thread has its own copy, so it has no single address' },

  E_NOT_ELF: { group: 'files', meaning: 'not an ELF file (or not a regular file)' },
  E_ELF_CLASS: { group: 'files', meaning: 'a 32-bit ELF: hotpatch reads 64-bit ELF only' },
  E_ELF_BAD: { group: 'files', meaning: 'an ELF file that is truncated or damaged', hint: 'the file is truncated or damaged; rebuild it or copy it again' },
  E_ELF_CHANGED: { group: 'files', meaning: 'the file changed on disk since it was opened', hint: 'open it again' },
  E_ARCH: { group: 'files', meaning: 'a machine hotpatch does not handle: this host, or a library built for another' },
  E_BUILD_ID: { group: 'files', meaning: 'a debug file made from another build (its build-id differs)', hint: 'use the debug file made from this very binary' },
  E_DWARF_BAD: { group: 'files', meaning: 'debug information (DWARF) that is damaged or not understood' },
  E_DWARF_UNSUPPORTED: { group: 'files', meaning: 'debug information in a form this hotpatch cannot read (zstd-compressed on an older Node)' },
  E_UNWIND: { group: 'files', meaning: 'the call frames above this one cannot be found from the call frame information' },
  E_FILE: { group: 'files', meaning: 'a file hotpatch was asked to write cannot be written', hint: 'name a file in a writable directory' },

  E_NOT_FILE: { group: 'load', meaning: 'the library path is not a regular file', hint: 'give the path of a patch .so' },
  E_NOT_DYN: { group: 'load', meaning: 'not a shared library (an executable, or another ELF type)', hint: 'build it with gcc -shared -fPIC' },
  E_INSECURE: { group: 'load', meaning: 'as root: the library, or a directory above it, can be changed by another user' },
  E_LOADED: { group: 'load', meaning: 'a library of that name is already loaded in the target', hint: 'unload it first, or load a copy under another name' },
  E_INTERRUPTED: { group: 'load', meaning: 'an earlier load of the library was interrupted part way', hint: 'run cleanup to take out what of it got in, then load again' },
  E_UNRESOLVED: { group: 'load', meaning: 'the library needs symbols that nothing in the target defines' },
  E_NEEDS_WEAK: { group: 'load', meaning: 'the library needs symbols the target does not export: dlopen could not bind them unless they are weak' },
  E_NO_DLOPEN: { group: 'load', meaning: 'the target has no dlopen/dlclose (libc not loaded, or a static binary)' },
  E_DLOPEN: { group: 'load', meaning: 'dlopen failed in the target (the message gives dlerror)' },
  E_DLCLOSE: { group: 'load', meaning: 'dlclose failed in the target' },
  E_NOT_LOADED: { group: 'load', meaning: 'no library of that name or #ID was loaded by hotpatch', hint: 'see `libs`' },
  E_IN_USE: { group: 'load', meaning: 'still in use: a patch uses the library, or a thread is inside hotpatch\'s stub page' },
  E_TEXTREL: { group: 'load', meaning: 'the library has text relocations: its code would have to be written at load time', hint: 'rebuild it with -fPIC' },
  E_UNSUPPORTED_RELOC: { group: 'load', meaning: 'a relocation (or thread-local reference) this loader cannot fill' },
  E_RELOC_OVERFLOW: { group: 'load', meaning: 'a relocation needs a distance beyond ±2 GiB from where the library lands' },
  E_TLS_MISMATCH: { group: 'load', meaning: 'the library and the target disagree on whether a symbol is thread-local, or on its TLS model' },
  E_BAD_BASE: { group: 'load', meaning: 'a map load base that is not page-aligned' },

  E_NOT_FUNCTION: { group: 'patch', meaning: 'the address to redirect is not the start of a function', hint: 'name a function, or pass --force for a raw address' },
  E_TOO_SHORT: { group: 'patch', meaning: 'the function (with its padding) is shorter than even a 2-byte jump (a 1-byte function: ret)', hint: 'redirect its callers instead, or the GOT slot with --got' },
  E_NO_HOP: { group: 'patch', meaning: 'a function shorter than a 5-byte jump has nothing within a 2-byte jump\'s reach (-128..+127) that could hold the 5-byte hop: no padding, no bytes proven never run', hint: 'redirect its callers instead, or the GOT slot with --got' },
  E_BRANCH_INTO: { group: 'patch', meaning: 'the function branches back into the bytes the jump would overwrite', hint: 'redirect a caller instead, or --force if you know it is safe' },
  E_RELOCATE: { group: 'patch', meaning: 'the instructions the jump overwrites cannot be moved into a trampoline' },
  E_NO_GOT: { group: 'patch', meaning: 'no module imports the function through a GOT slot', hint: 'redirect the function itself (without --got)' },
  E_IFUNC: { group: 'patch', meaning: 'the resolver of an indirect function chose an address that is not code', hint: 'name the implementation itself (see syms)' },
  E_NO_ORIGINAL: { group: 'patch', meaning: 'hp_orig_NAME cannot be filled: the patch keeps no trampoline of the original' },
  E_SHARED_ORIG: { group: 'patch', meaning: 'the new function\'s library already gave a lower layer of the same stack its hp_orig_ pointer: one pointer cannot lead two layers down', hint: 'put the new function in a library of its own, or revert that layer first' },
  E_CHANGED: { group: 'patch', meaning: 'the bytes hotpatch wrote were changed since by someone else', hint: 'look with disasm; --force acts anyway' },
  E_COMPILE: { group: 'patch', meaning: 'the C compiler rejected the fix: the message names the first error, the log beside the fix holds the whole output', hint: 'correct the file and run patch again; nothing was loaded' },
  E_NO_COMPILER: { group: 'patch', meaning: 'no C compiler to build the fix: $CC, else cc, was not found (or objcopy, which marks references weak)', hint: 'install one (apt-get install gcc binutils), or set CC to a C compiler' },
  E_FIX_FUNCTION: { group: 'patch', meaning: 'the compiled fix defines no function to redirect to (the function\'s own name, or fix_NAME)', hint: 'define the new function under the name of the one it replaces' },
  E_NO_PATCH: { group: 'patch', meaning: 'no active patch of that number or name', hint: 'see `patches`' },
  E_PAGE_CHECK: { group: 'patch', meaning: 'a page hotpatch made in the target did not hold what was written; it was unmapped again', hint: 'try again' },

  E_RECORD_VERSION: { group: 'record', meaning: 'the patch record in the target was written by a hotpatch of another version' },
  E_RECORD_CORRUPT: { group: 'record', meaning: 'the patch record in the target is damaged', hint: 'patches cannot be listed; revert by address with poke' },
  E_RECORD_FULL: { group: 'record', meaning: 'the patch record is full', hint: 'revert some patches' },

  E_MANIFEST: { group: 'usage', meaning: 'a fix manifest (hotpatch apply FIX.json) is not valid: the message names the field', hint: 'docs/fleet.md describes the manifest format' },
  E_OTHER_BUILD: { group: 'patch', meaning: 'the process maps another build of the module a fix is for (its build-id differs): it is skipped, never patched', hint: 'build the fix against that build, or list its build-id as a target of its own' },
  E_NOT_MAPPED: { group: 'patch', meaning: 'the process maps none of the modules a fix is for: it is skipped', hint: 'the fix is for other programs' },

  E_USAGE: { group: 'usage', meaning: 'a command or option used wrongly (the message says how; the hint gives the usage)' },
  E_UNKNOWN_COMMAND: { group: 'usage', meaning: 'no command of that name', hint: 'type help for the list' },
  E_NO_TOUR: { group: 'usage', meaning: 'no tour running', hint: 'type tour to start it' },
  E_CANCELLED: { group: 'usage', meaning: 'the command was cancelled (Ctrl-C); what it had done is said in the message' },

  E_INTERNAL: { group: 'internal', meaning: 'a failure hotpatch did not foresee (the message says what); a bug to report' },
  E_BAD_ARGUMENT: { group: 'internal', meaning: 'the native tracer was given a request it does not understand (a bug in hotpatch)' },
} as const satisfies Record<string, ErrorInfo>;

/** Every code hotpatch gives: a code not in the table does not compile. */
export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/** The table entry of a code, typed loosely enough to read the optional hint. */
export function errorInfo(code: ErrorCode): ErrorInfo {
  return ERRORS[code];
}
