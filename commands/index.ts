// The command table: every console command, in the order help shows them.
import type { CommandSpec } from '../src/command.js';
import { attach } from './attach.js';
import { detach } from './detach.js';
import { spawn } from './spawn.js';
import { stop, cont } from './stop.js';
import { syms } from './syms.js';
import { symbols } from './symbols.js';
import { disasm } from './disasm.js';
import { peek } from './peek.js';
import { poke } from './poke.js';
import { regs } from './regs.js';
import { threads } from './threads.js';
import { bt } from './bt.js';
import { maps } from './maps.js';
import { help } from './help.js';
import { explain } from './explain.js';
import { quit } from './quit.js';
import { tour } from './tour.js';
import { load } from './load.js';
import { call } from './call.js';
import { libs, unload } from './libs.js';
import { redirect, revert, patches } from './redirect.js';
import { cleanup } from './cleanup.js';
import { patch } from './patch.js';
import { apply } from './apply.js';

const COMMANDS: CommandSpec[] = [attach, spawn, detach, stop, cont, syms, symbols, disasm, peek, regs, threads, bt, maps, load, libs, unload, poke, redirect, patch, revert, patches, apply, cleanup, call, explain, help, tour, quit];

export function allCommands(): CommandSpec[] {
  return COMMANDS;
}

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name || c.aliases?.includes(name));
}
