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
}

export const USAGE = `usage: hotpatch [-p PID | PID | NAME | -- PROG ARGS...] [-e CMD]... [-x FILE] [--format table|plain|json] [--no-color]
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
exit status: 0 all commands succeeded, 1 one failed (the rest is not run), 2 usage error`;

export function parseCli(argv: string[]): CliOptions {
  const o: CliOptions = { commands: [], files: [], json: false, help: false, version: false, color: !process.env.NO_COLOR };
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
  const setPid = (text: string) => {
    if (!/^\d+$/.test(text) || Number(text) <= 0) throw new HotpatchError('E_USAGE', `"${text}" is not a process id`, 'give a positive number');
    oneTarget();
    o.pid = Number(text);
  };
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
      case '--pid':
        setPid(needValue(a, i));
        i++;
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
  return o;
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
