// tour: a guided patch of the demo target, one stage at a time; each stage gives the lines to run and why.
import { join } from 'node:path';
import { packageRoot } from '../src/paths.js';
import type { CommandSpec } from '../src/command.js';
import { text, type Block } from '../src/result.js';
import { HotpatchError } from '../src/errors.js';
import type { Session } from '../src/session.js';
import type { Pause } from '../src/process/target.js';
import { outputFile } from '../src/process/procfs.js';
import { counted } from '../src/words.js';

/** What `tour` returns as data: the console runs `lines`, then waits for the user before `tour next`. */
export interface TourStep {
  tour: true;
  /** 1-based stage number; 0 when the tour just stopped. */
  stage: number;
  stages: number;
  name: string;
  title: string;
  lines: string[];
  /** The name of the stage after this one, if any. */
  next?: string;
  /** The tour is over (finished or stopped): nothing more to run. */
  done: boolean;
}

interface Stage {
  name: string;
  title: string;
  lines: string[];
  /**
   * One paragraph: what the stage does to the process, and why. Figures come from what was measured (the pause of the
   * stage before), never promised ahead: `facts` holds them.
   */
  explanation: string | ((facts: TourFacts) => string);
}

/** What the tour knows of this run when it shows a stage: measured pauses, where the demo writes. */
interface TourFacts {
  pauses: ReadonlyMap<string, Pause>;
  log?: string;
}

// dist/commands/tour.js → the repository root is two levels up.
const DEMO_FIX = join(packageRoot(), 'fixtures', 'build', 'patches', 'demo_fix.so');
// The same fix as C source, compiled by patch itself.
const DEMO_PATCH_FIX = join(packageRoot(), 'fixtures', 'demo_patch_fix.c');

/** `Measured just now: the load held the demo still for 13.0 ms (1 thread). `, or nothing when it was not measured. */
function measured(facts: TourFacts, command: string, what: string): string {
  const p = facts.pauses.get(command);
  if (!p) return '';
  const ms = (micros: number) => (micros / 1000).toFixed(micros < 10_000 ? 2 : 1);
  const stops = p.stops && p.stops > 1 ? `, in ${p.stops} stops, the longest ${ms(p.longestMicros ?? p.micros)} ms` : '';
  return `Measured just now: ${what} ${ms(p.micros)} ms (${counted(p.threads, 'thread')}${stops}). `;
}

export const TOUR_STAGES: Stage[] = [
  {
    name: 'find',
    title: 'find the function to replace',
    lines: ['syms rate_limit'],
    explanation: [
      'The demo is a small call router: every half second a burst of 12 calls arrives and rate_limit(active) decides',
      'whether one more may go through. At most 8 should; the log says OVERLOAD because 9 do.',
      'rate_limit is static: it is not exported, so only the full symbol table (.symtab) knows it, with its source',
      'file demo.c. syms shows where it lives in this run (the executable is position independent, so the address',
      'is the file address plus the load bias) and how many bytes it has: our jump must fit in them.',
    ].join(' '),
  },
  {
    name: 'read',
    title: 'read the code and the data',
    lines: ['disasm rate_limit', 'peek s_dropped --as i32'],
    explanation: [
      'Four instructions: xor eax,eax; cmp edi,8; setle al; ret. setle means "set if less or equal": calls <= 8,',
      'where calls < 8 was meant, so a ninth call is admitted. That is the whole bug.',
      'peek reads memory with process_vm_readv, without stopping the process: s_dropped counts rejected calls,',
      '3 per window today (12 arrive, 9 pass). Remember the number.',
    ].join(' '),
  },
  {
    name: 'load',
    title: 'load the new code',
    lines: [`load ${DEMO_FIX}`],
    explanation: [
      'The fix is an ordinary shared library (fixtures/demo_fix.c) with rate_limit_fixed: return calls < 8.',
      'load borrows one thread of the demo, makes it call dlopen() on the library, and gives the thread back with',
      'its registers as they were. The demo has one thread, so it does no work of its own meanwhile: the `paused`',
      'line under the result says for how long. Nothing calls the new code yet: loading changes no behaviour.',
    ].join(' '),
  },
  {
    name: 'redirect',
    title: 'send calls to the new code',
    lines: ['redirect rate_limit rate_limit_fixed'],
    explanation: (facts) => measured(facts, 'load', 'the load held the demo still for') + [
      'redirect stops every thread, checks that none is executing the first bytes of rate_limit, and overwrites',
      'them with a jump to rate_limit_fixed. The executable lives near 0x55… and the library near 0x7f…: more than',
      '2 GiB apart, out of reach of a 5-byte jmp rel32, so the jump goes through a veneer placed nearby.',
      'The bytes before and after are kept, so revert can check and undo exactly this.',
    ].join(' '),
  },
  {
    name: 'watch',
    title: 'watch the behaviour change',
    lines: ['peek s_dropped --as i32'],
    explanation: (facts) => measured(facts, 'redirect', 'the redirect stopped the demo for') + [
      'From now on each window admits 8 calls and drops 4, so s_dropped grows by 4 per half second instead of 3.',
      'Run `peek s_dropped --as i32` again in a moment and compare. The demo writes its own view',
      `${facts.log ? `to ${facts.log}` : 'to its output'}: routed=8/12 … OK instead of routed=9/12 … OVERLOAD (tail -f it in another terminal).`,
    ].join(' '),
  },
  {
    name: 'revert',
    title: 'undo the patch, take everything out',
    lines: ['revert rate_limit', 'unload demo_fix.so', 'cleanup'],
    explanation: [
      'revert checks that rate_limit still holds the jump we wrote (nobody patched over us), then puts the original',
      'bytes back while every thread is stopped. The demo is back to OVERLOAD. unload makes the demo call dlclose() on',
      'the library; cleanup unmaps the pages hotpatch made (the patch record, the code area with the veneer, the',
      'call stub): the memory map is as it was before the tour (compare `maps`).',
      'That was a whole patch, stage by stage: find, read, load, redirect, watch, revert. Next: the same fix written',
      'in C and applied in one command.',
    ].join(' '),
  },
  {
    name: 'patch',
    title: 'the fix in C, in one step',
    lines: [`patch rate_limit --from ${DEMO_PATCH_FIX}`],
    explanation: [
      'No library built beforehand this time: fixtures/demo_patch_fix.c is plain C, a rate_limit that returns',
      'calls < 8 and reads s_active, a static of demo.c, declared as an ordinary extern. patch compiles it with',
      '$CC (else cc) -shared -fPIC -O2 -g, looks at what the object leaves undefined, binds s_active to demo.c\'s',
      'static (the function\'s own source file first), loads the library and redirects rate_limit to its',
      'rate_limit: the stages before, in one command with one pause report. The table says where each reference',
      'went and why. At the prompt, `patch rate_limit` alone writes a template with the prototype from the debug',
      'info and opens it in $VISUAL/$EDITOR; it is applied when the editor exits.',
    ].join(' '),
  },
  {
    name: 'undo',
    title: 'undo the fix in C',
    lines: ['revert rate_limit', 'cleanup'],
    explanation: (facts) => measured(facts, 'patch', 'compile aside, the patch held the demo still for') + [
      'The demo says OK again, from the compiled fix. revert puts the original bytes back and, since patch compiled',
      'the library, unloads it and deletes it (the source and the compile log stay); cleanup unmaps the pages of',
      'hotpatch. The demo is back to OVERLOAD, its memory map as before the tour. help lists every command by stage.',
    ].join(' '),
  },
];

/** Explanations are laid out for an 80-column terminal, in the console and in batch output alike. */
const TEXT_WIDTH = 78;

export const tour: CommandSpec = {
  name: 'tour',
  stage: 'console',
  usage: 'tour [next|stop]',
  summary: 'a guided patch of the demo target (npm start), one stage at a time',
  why: 'each stage runs the commands of one step of a patch and says what they do to the process',
  args: [{ name: 'action', kind: 'string', optional: true, help: 'next: the following stage; stop: end the tour' }],
  async run({ session }, { args }) {
    const action = (args.action as string | undefined) ?? 'start';
    const at = session.tourStage;
    if (action === 'stop') {
      session.tourStage = undefined;
      const step: TourStep = { tour: true, stage: 0, stages: TOUR_STAGES.length, name: 'stop', title: 'tour stopped', lines: [], done: true };
      return { data: step, blocks: [text(at === undefined ? 'no tour running' : 'tour stopped; type tour to start again', 'dim')] };
    }
    if (action !== 'start' && action !== 'next') throw new HotpatchError('E_USAGE', `tour: say next or stop, not "${action}"`, 'usage: tour [next|stop]');
    if (action === 'next' && at === undefined) throw new HotpatchError('E_NO_TOUR', 'no tour running', 'type tour to start it');
    requireDemo(session);
    const index = action === 'start' ? 0 : at! + 1;
    const stage = TOUR_STAGES[index]!;
    const last = index === TOUR_STAGES.length - 1;
    session.tourStage = last ? undefined : index;
    const step: TourStep = {
      tour: true,
      stage: index + 1,
      stages: TOUR_STAGES.length,
      name: stage.name,
      title: stage.title,
      lines: stage.lines,
      next: last ? undefined : TOUR_STAGES[index + 1]!.name,
      done: last,
    };
    return { data: step, blocks: stageBlocks(session, stage, step) };
  },
};

/** The tour patches the demo and nothing else: without it attached, its commands would only fail. */
function requireDemo(session: Session): void {
  const t = session.target;
  if (t?.attached && t.name === 'demo') return;
  const now = t?.attached ? `attached to ${t.pid} (${t.name}), not the demo` : 'no process attached';
  throw new HotpatchError('E_NO_TARGET', `the tour patches the demo target; ${now}`, 'npm start runs the demo and opens the console on it (or: attach to a running fixtures/build/demo)');
}

function stageBlocks(session: Session, stage: Stage, step: TourStep): Block[] {
  const blocks: Block[] = [text(`Tour ${step.stage}/${step.stages} · ${stage.name}: ${stage.title}`, 'heading')];
  const facts: TourFacts = { pauses: session.lastPauses, log: session.target ? outputFile(session.target.pid) : undefined };
  const explanation = typeof stage.explanation === 'string' ? stage.explanation : stage.explanation(facts);
  blocks.push(text(wrapWords(explanation, TEXT_WIDTH)));
  blocks.push(text(`runs: ${stage.lines.join('  ·  ')}`, 'dim'));
  blocks.push(text(step.next ? `next: ${step.next} (Enter at an empty prompt, or tour next; tour stop ends)` : 'end of the tour', 'dim'));
  return blocks;
}

function wrapWords(paragraph: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of paragraph.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

/** The tour step inside a command's data, for the console that runs its lines. */
export function tourStepOf(data: unknown): TourStep | undefined {
  const d = data as Partial<TourStep> | null | undefined;
  return d && d.tour === true && Array.isArray(d.lines) ? (d as TourStep) : undefined;
}
