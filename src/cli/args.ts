// The command line of the hotpatch binary: a contract scripts rely on.
import { HotpatchError } from '../errors.js';
import { quoteWord } from '../command.js';
import type { OutputFormat } from './render-plain.js';

export interface CliOptions {
  pid?: number;
  /** A process name to attach to (`hotpatch NAME`), as pgrep matches it. */
  name?: string;
  /** A program to start and attach to (`hotpatch -- PROG ARGS`): the program, then its arguments. */
  spawn?: string[];
  commands: string[];
  files: string[];
  json: boolean;
  /** --format; undefined: json with --json, else table on a terminal and plain otherwise (see outputFormat). */
  format?: OutputFormat;
  help: boolean;
  version: boolean;
  color: boolean;
  /** Several processes (a fleet run: src/cli/fleet.ts): -p 10,11,12 (or -p given twice), --all NAME, --mapping MODULE. */
  pids?: number[];
  all?: string;
  mapping?: string;
  /** How many processes a fleet run works on at once. */
  jobs?: number;
  /** How many worker processes a big fleet run is shared among (default one a core; 1: none). */
  procs?: number;
  allOrNone: boolean;
  /** `hotpatch apply [--revert] FIX.json`: bring each chosen process to the state the manifest declares. */
  apply?: { file: string; revert: boolean };
}

export const USAGE = `usage: hotpatch [-p PID|NAME | PID | NAME | -- PROG ARGS...] [-e CMD]... [-x FILE] [--format table|plain|json] [--no-color]
  hotpatch PID               interactive console attached to PID (hotpatch alone: no target yet)
  hotpatch NAME              the same for the process named NAME, as pgrep NAME finds it (exact name first)
  hotpatch -- PROG ARGS…     start PROG, attached from its first instruction; its output goes to a log file
                             ($XDG_STATE_HOME/hotpatch/logs); quitting, or the end of a batch, kills it
  hotpatch -p PID -e CMD …   run each command in order, detach, exit
  hotpatch -p PID -x FILE    commands from FILE, one a line, # comments
  cmd | hotpatch -p PID      commands from standard input when it is not a terminal
  --format plain             one row a line, no rules (the default when stdout is not a terminal)
  --format table             tables fitted to the terminal (the default on a terminal)
  --format json, --json      one JSON object per command: {"command","ok","result"|"error"}
  hotpatch -p 10,11,12 -e CMD   the same commands in each process, several at a time (see docs/fleet.md)
  --all NAME                 every process pgrep NAME finds      --mapping MODULE   every process mapping it
  --jobs N                   processes worked on at once (default 8)
  --procs N                  worker processes to share the run among (default: one a core for a big run; 1: none)
  --all-or-none              one process failing undoes what the run did in the others
  hotpatch apply [--revert] FIX.json [-p …|--all NAME|--mapping M]   bring processes to a declared fix (or take it off)
exit status: 0 all commands succeeded (in every process), 1 one failed (the rest is not run), 2 usage error`;

/** The processes a fleet run works on at once when --jobs does not say. */
export const DEFAULT_JOBS = 8;

export function parseCli(argv: string[], applying = false): CliOptions {
  const o: CliOptions = { commands: [], files: [], json: false, help: false, version: false, color: !process.env.NO_COLOR, allOrNone: false };
  const needValue = (flag: string, i: number) => {
    const v = argv[i + 1];
    if (v === undefined) throw new HotpatchError('E_USAGE', `${flag} needs a value`, USAGE.split('\n')[0]);
    return v;
  };
  const oneTarget = () => {
    if (o.pid !== undefined || o.name !== undefined || o.spawn !== undefined) {
      throw new HotpatchError('E_USAGE', 'give one process: a pid, a name, or -- PROG ARGS', USAGE.split('\n')[0]);
    }
  };
  const asPid = (text: string) => {
    if (!/^\d+$/.test(text) || Number(text) <= 0) throw new HotpatchError('E_USAGE', `"${text}" is not a process id`, 'give a positive number');
    return Number(text);
  };
  const setPid = (text: string) => {
    oneTarget();
    o.pid = asPid(text);
  };
  // -p with a list, or given twice: several processes.
  const addPids = (text: string) => {
    const list = text.split(',').map((w) => asPid(w.trim()));
    if (o.name !== undefined || o.spawn !== undefined) oneTarget();
    const before = o.pids ?? (o.pid !== undefined ? [o.pid] : []);
    o.pids = [...before, ...list];
    o.pid = undefined;
    if (o.pids.length === 1) {
      o.pid = o.pids[0];
      o.pids = undefined;
    }
  };
  if (argv[0] === 'apply') {
    const rest = argv.slice(1);
    const revert = rest.includes('--revert');
    const words = rest.filter((w) => w !== '--revert');
    const file = words.find((w, i) => !w.startsWith('-') && !['-p', '--pid', '--all', '--mapping', '--jobs', '--procs', '--format'].includes(words[i - 1] ?? ''));
    if (file === undefined) throw new HotpatchError('E_USAGE', 'apply needs a fix manifest: hotpatch apply [--revert] FIX.json', 'docs/fleet.md describes the manifest');
    const parsed = parseCli(words.filter((w) => w !== file), true);
    if (parsed.commands.length || parsed.files.length || parsed.spawn || parsed.name !== undefined) {
      throw new HotpatchError('E_USAGE', 'apply takes the processes (-p, --all, --mapping) and output options, not commands or a program', 'hotpatch apply FIX.json --mapping libfoo.so');
    }
    parsed.apply = { file, revert };
    return parsed;
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      // Everything after -- is the program and its arguments, options included.
      const program = argv.slice(i + 1);
      if (program.length === 0) throw new HotpatchError('E_USAGE', '-- needs a program to start', 'e.g. hotpatch -- ./fixtures/build/counter');
      oneTarget();
      o.spawn = program;
      break;
    }
    switch (a) {
      case '-p':
      case '--pid': {
        // gdb's -p takes a pid; people also type a name there (`-p nginx`): it means what `hotpatch NAME` means.
        const v = needValue(a, i);
        if (/^[^\d,][^,]*$/.test(v)) {
          oneTarget();
          o.name = v;
        } else addPids(v);
        i++;
        break;
      }
      case '--all':
        if (o.all !== undefined) throw new HotpatchError('E_USAGE', '--all is given once', 'hotpatch --all NAME -e CMD');
        o.all = needValue(a, i);
        i++;
        break;
      case '--mapping':
        if (o.mapping !== undefined) throw new HotpatchError('E_USAGE', '--mapping is given once', 'hotpatch --mapping libfoo.so -e CMD');
        o.mapping = needValue(a, i);
        i++;
        break;
      case '--jobs': {
        const v = needValue(a, i);
        if (!/^\d+$/.test(v) || Number(v) < 1) throw new HotpatchError('E_USAGE', `--jobs must be a positive number, not "${v}"`, `the default is ${DEFAULT_JOBS}`);
        o.jobs = Number(v);
        i++;
        break;
      }
      case '--procs': {
        const v = needValue(a, i);
        if (!/^\d+$/.test(v) || Number(v) < 1) throw new HotpatchError('E_USAGE', `--procs must be a positive number, not "${v}"`, 'the default is one worker a core; 1 runs in one process');
        o.procs = Number(v);
        i++;
        break;
      }
      case '--all-or-none':
        o.allOrNone = true;
        break;
      case '-e':
      case '--eval':
        o.commands.push(needValue(a, i));
        i++;
        break;
      case '-x':
      case '--file':
        o.files.push(needValue(a, i));
        i++;
        break;
      case '--json':
        o.json = true;
        break;
      case '--format': {
        const v = needValue(a, i);
        if (v !== 'table' && v !== 'plain' && v !== 'json') throw new HotpatchError('E_USAGE', `--format must be table, plain or json, not "${v}"`, 'plain: one row a line; table: fitted to the terminal; json: one object per command');
        o.format = v;
        i++;
        break;
      }
      case '--no-color':
        o.color = false;
        break;
      case '-h':
      case '--help':
        o.help = true;
        break;
      case '-V':
      case '--version':
        o.version = true;
        break;
      default:
        if (a.startsWith('-')) throw new HotpatchError('E_USAGE', `unknown option ${a}`, 'hotpatch --help shows the options');
        if (/^\d+$/.test(a)) setPid(a);
        else {
          oneTarget();
          o.name = a;
        }
    }
  }
  const ways = [o.pids !== undefined || o.pid !== undefined, o.all !== undefined, o.mapping !== undefined, o.name !== undefined || o.spawn !== undefined].filter(Boolean).length;
  if (ways > 1) throw new HotpatchError('E_USAGE', 'choose the processes one way: -p PIDS, --all NAME or --mapping MODULE', USAGE.split('\n')[0]);
  if ((o.jobs !== undefined || o.procs !== undefined || o.allOrNone) && !isFleet(o) && !applying) {
    throw new HotpatchError('E_USAGE', `${o.allOrNone ? '--all-or-none' : o.jobs !== undefined ? '--jobs' : '--procs'} is for several processes (-p 10,11, --all NAME, --mapping MODULE)`, USAGE.split('\n')[0]);
  }
  return o;
}

/** A run over several processes: each gets its own session, the same commands, and a line in the summary. */
export function isFleet(o: CliOptions): boolean {
  return o.pids !== undefined || o.all !== undefined || o.mapping !== undefined || o.apply !== undefined;
}

/** The batch output's format: as asked, else JSON for --json, else a table on a terminal and plain text in a pipe. */
export function outputFormat(o: CliOptions, stdoutIsTerminal: boolean): OutputFormat {
  return o.format ?? (o.json ? 'json' : stdoutIsTerminal ? 'table' : 'plain');
}

/** The line the console or batch opens with: attach to the pid or name given, or start the program; none without. */
export function openingLine(o: CliOptions): string | undefined {
  if (o.spawn) return ['spawn', '--', ...o.spawn].map(quoteWord).join(' ');  // -- : the program's own options are its
  if (o.pid !== undefined) return `attach ${o.pid}`;
  if (o.name !== undefined) return `attach ${quoteWord(o.name)}`;
  return undefined;
}
