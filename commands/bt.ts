// bt: the call stack of one thread or of every thread, unwound from call frame information, frames named as gdb does.
import type { CommandSpec } from '../src/command.js';
import { parseNumber, usageError } from '../src/command.js';
import { hex, type Block } from '../src/result.js';
import { readStat, describeState } from '../src/process/procfs.js';
import { stubPage, STUB_PAGE_SIZE } from '../src/process/stub.js';
import { loadRecord } from '../src/patch/record.js';
import { ownPages } from '../src/patch/cleanup.js';
import { backtrace, demangleFrames, DEFAULT_FRAME_LIMIT, type BacktraceEnd, type BacktraceFrame, type OwnCode } from '../src/symbols/backtrace.js';
import { demangleAll } from '../src/symbols/demangle.js';
import type { Session } from '../src/session.js';

/** Stack read per thread at the stop: enough for deep C stacks; `--stack` asks for more. */
const DEFAULT_STACK_KIB = 64;
const MAX_STACK_KIB = 8192;

export const bt: CommandSpec = {
  name: 'bt',
  aliases: ['backtrace', 'where'],
  stage: 'explore',
  usage: 'bt [TID|all] [--limit N] [--stack KIB]',
  summary: 'call stack of the main thread, of one thread, or of all of them (stops them only to read)',
  why: 'see where each thread is and how it got there: which callers a patch would affect, what a stuck thread waits for',
  args: [{ name: 'thread', kind: 'string', optional: true, help: 'a thread id, or all (default: the main thread)' }],
  options: [
    { name: 'limit', kind: 'number', valueName: 'N', help: `frames per thread at most (default ${DEFAULT_FRAME_LIMIT})` },
    { name: 'stack', kind: 'number', valueName: 'KIB', help: `stack read per thread while it is stopped (default ${DEFAULT_STACK_KIB} KiB)` },
  ],
  needsTarget: true,
  async run({ session }, { args, options }) {
    const target = session.requireTarget();
    const which = (args.thread as string | undefined) ?? String(target.pid);
    if (which !== 'all' && !/^\d+$/.test(which)) throw usageError(bt, `THREAD must be a thread id or all, not "${which}"`);
    const limit = options.limit !== undefined ? parseNumber(options.limit as string, '--limit') : DEFAULT_FRAME_LIMIT;
    const stackKib = options.stack !== undefined ? parseNumber(options.stack as string, '--stack') : DEFAULT_STACK_KIB;
    if (limit < 1) throw usageError(bt, '--limit must be at least 1');
    if (stackKib < 1 || stackKib > MAX_STACK_KIB) throw usageError(bt, `--stack must be 1 to ${MAX_STACK_KIB} KiB`);

    // Everything that needs no stop is done before it: the address space, the names of our own code.
    const space = session.space();
    const ownCode = ownCodeOf(session);
    const names = threadNames(target.pid, which === 'all' ? target.threads() : [Number(which)]);
    const stackBytes = stackKib * 1024;
    // Unwound after the threads run on: from what was read at the stop, never from the live stack.
    const sources = {
      space,
      registerTable: session.arch.dwarfRegisters,
      readTarget: (address: bigint, length: number) => target.readExact(address, length),
      ownCode,
      deferDemangling: true,
    };
    const snapshots = await target.snapshotThreads(stackBytes, which === 'all' ? undefined : Number(which));
    const threads = snapshots
      .sort((a, b) => (a.tid === target.pid ? -1 : b.tid === target.pid ? 1 : a.tid - b.tid))
      .map((snap) => {
        const info = names.get(snap.tid) ?? threadInfo(target.pid, snap.tid);
        const { mangled, ...trace } = snap.regs.length === 0
          ? { frames: [], end: { reason: 'stuck', message: 'its registers could not be read (it was exiting)' } as BacktraceEnd, mangled: [] }
          : backtrace({ registers: session.arch.decodeRegs(snap.regs).values, stack: snap.stack, stackBytesAsked: stackBytes }, sources, limit);
        return { tid: snap.tid, ...info, ...(snap.groupStopped ? { jobStopped: true } : {}), ...trace, mangled: mangled ?? [] };
      });
    // Every thread's C++ names are demangled in one batch (node's frames are C++).
    const mangled = threads.flatMap((t) => t.mangled);
    demangleFrames(mangled, demangleAll(mangled.map((m) => m.linkage)));
    // The names are demangled in place: what is left to show is each thread and its frames.
    const shown = threads.map(({ mangled: _names, ...t }) => t);
    const blocks: Block[] = [];
    for (const t of shown) {
      blocks.push({ type: 'text', text: `thread ${t.tid} (${t.name})${t.tid === target.pid ? ' main' : ''} · ${t.state}${t.jobStopped ? ' (job-stopped)' : ''}`, tone: 'heading' });
      if (t.frames.length > 0) {
        blocks.push({ type: 'table', columns: ['#', 'pc', 'function', 'source', 'module'], rows: t.frames.map(frameRow), alignRight: [0] });
      }
      const ending = endText(t.end);
      if (ending) blocks.push({ type: 'text', text: ending, tone: t.end.reason === 'outermost' ? 'dim' : 'warn' });
    }
    return {
      data: { threads: shown.map((t) => ({ ...t, frames: t.frames.map(frameData) })) },
      blocks,
      explain: [
        which === 'all'
          ? `one stop of every thread: PTRACE_INTERRUPT each, then its registers (PTRACE_GETREGS) and ${stackKib} KiB of its stack from rsp (process_vm_readv), then all resumed`
          : `one stop of thread ${which} alone: its registers and ${stackKib} KiB of its stack, then resumed`,
        'after the resume, each stack is unwound from those bytes with the modules\' call frame information (.eh_frame, .debug_frame): no frame pointer assumed',
        'frames are named from the debug information where there is some (inlined calls shown as frames of their own, as gdb does), else from the symbol table',
      ],
    };
  },
};

/** Name and state from /proc, read before the stop (what the threads were doing). */
function threadNames(pid: number, tids: number[]): Map<number, { name: string; state: string }> {
  return new Map(tids.map((tid) => [tid, threadInfo(pid, tid)]));
}

function threadInfo(pid: number, tid: number): { name: string; state: string } {
  try {
    const s = readStat(pid, tid);
    return { name: s.comm, state: describeState(s.state) };
  } catch {
    return { name: '?', state: 'gone' };
  }
}

/**
 * Our code in the target by address, named as `disasm` and `maps` name it. A trampoline's frame is unwound with the
 * CFI of the original instructions it holds; a veneer is a jump, and the stub is where remote calls return.
 */
function ownCodeOf(session: Session): (pc: bigint) => OwnCode | undefined {
  const ranges: { start: bigint; end: bigint; code: (pc: bigint) => OwnCode }[] = [];
  try {
    const veneerSize = BigInt(session.arch.encodeAbsoluteJump(0n, 0n).length);
    for (const p of loadRecord(session).patches) {
      if (p.veneer !== undefined) {
        ranges.push({ start: p.veneer, end: p.veneer + veneerSize, code: () => ({ name: `hotpatch veneer -> ${p.toName} (patch #${p.id})` }) });
      }
      if (p.trampoline !== undefined) {
        const size = BigInt((p.trampolineBytes ?? '').replace(/\s/g, '').length / 2);
        const covered = BigInt(p.before.replace(/\s/g, '').length / 2);
        const start = p.trampoline;
        ranges.push({
          start, end: start + (size > 0n ? size : 1n),
          // The moved instructions keep their order and (nearly always) their lengths: the same offset in the original.
          code: (pc) => ({ name: `hotpatch trampoline: the original ${p.fromName} (patch #${p.id})`, cfiAddress: p.from + (pc - start < covered ? pc - start : covered) }),
        });
      }
    }
    for (const page of ownPages(session)) {
      if (page.what === 'code area') ranges.push({ start: page.start, end: page.start + page.size, code: () => ({ name: 'hotpatch code area' }) });
    }
  } catch {
    // a damaged or foreign record: our pages go unnamed, the rest of the stack is unaffected
  }
  const stub = stubPage(session.requireTarget());
  if (stub !== undefined) ranges.push({ start: stub, end: stub + STUB_PAGE_SIZE, code: () => ({ name: 'hotpatch return stub' }) });
  if (ranges.length === 0) return () => undefined;
  return (pc) => ranges.find((r) => r.start <= pc && pc < r.end)?.code(pc);
}

export function frameFunction(f: BacktraceFrame): string {
  const name = f.function !== undefined
    ? f.function + (f.offset !== undefined && f.offset !== 0n ? `+0x${f.offset.toString(16)}` : '')
    : f.module !== undefined && f.moduleOffset !== undefined ? `${f.module}+0x${f.moduleOffset.toString(16)}` : '??';
  return name + (f.inlined ? ' [inlined]' : '') + (f.viaFramePointer ? ' (by frame pointer)' : '');
}

function frameRow(f: BacktraceFrame): string[] {
  const source = f.file !== undefined ? `${f.file.slice(f.file.lastIndexOf('/') + 1)}:${f.line}` : '';
  // An inlined frame shares its pc with the frame that holds it: shown once, as gdb does.
  return [String(f.level), f.samePcAsInner ? '' : hex(f.pc), frameFunction(f), source, f.module ?? ''];
}

function frameData(f: BacktraceFrame): object {
  return {
    level: f.level,
    pc: hex(f.pc),
    function: f.function,
    ...(f.offset !== undefined ? { offset: hex(f.offset) } : {}),
    inlined: f.inlined,
    ...(f.samePcAsInner ? { samePcAsInner: true } : {}),
    ...(f.file !== undefined ? { file: f.file, line: f.line } : {}),
    module: f.module,
    ...(f.moduleOffset !== undefined ? { moduleOffset: hex(f.moduleOffset) } : {}),
    ...(f.hotpatch ? { hotpatch: true } : {}),
    ...(f.viaFramePointer ? { viaFramePointer: true } : {}),
  };
}

function endText(end: BacktraceEnd): string | undefined {
  switch (end.reason) {
    case 'outermost': return undefined;
    case 'limit': return `… stopped after ${end.limit} frames (--limit)`;
    case 'window': return `… the ${end.bytes / 1024} KiB of stack read at the stop end here: bt --stack ${Math.min(MAX_STACK_KIB, (end.bytes / 1024) * 4)} reads more`;
    case 'stuck': return `… backtrace stopped: ${end.message}`;
  }
}
