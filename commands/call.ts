// call FUNC [ARG…]: run a function inside the process on a borrowed thread and show what it returned.
import type { CommandSpec } from '../src/command.js';
import { parseNumber } from '../src/command.js';
import { text } from '../src/result.js';
import { HotpatchError } from '../src/errors.js';
import { chooseThread } from '../src/patch/remote.js';
import { runCalls, stubWords } from '../src/patch/returnstub.js';

export const call: CommandSpec = {
  name: 'call',
  stage: 'patch',
  usage: 'call FUNC [ARG…] [--timeout MS]',
  summary: 'call a function in the process (integer/pointer arguments) and show its return value',
  why: 'try new code before redirecting to it, or poke at the program through its own functions',
  args: [
    { name: 'function', kind: 'address' },
    { name: 'args', kind: 'string', rest: true, optional: true, help: 'up to 6 integers or addresses' },
  ],
  options: [{ name: 'timeout', kind: 'number', valueName: 'MS' }],
  needsTarget: true,
  async run({ session }, { args, options }) {
    const target = session.requireTarget();
    const fn = await session.resolve(args.function as string);
    const words = (args.args as string[] | undefined) ?? [];
    if (words.length > 6) throw new HotpatchError('E_USAGE', 'call: at most 6 arguments', 'usage: call FUNC [ARG…]');
    const values: bigint[] = [];
    for (const w of words) {
      if (/^-?\d+$/.test(w)) values.push(BigInt.asUintN(64, BigInt(w)));
      else values.push((await session.resolve(w)).address);
    }
    const tid = chooseThread(session);
    const timeoutMs = options.timeout ? parseNumber(options.timeout as string, '--timeout') : 2000;
    const { results, path } = await runCalls(session, tid, [{ kind: 'call', tid, addr: fn.address, args: values, timeoutMs }]);
    const value = results[0]!.value;
    const signed32 = BigInt.asIntN(32, value);
    return {
      data: { function: fn.description, address: '0x' + fn.address.toString(16), returned: '0x' + value.toString(16), int: Number(signed32), tid },
      blocks: [text(`${fn.description}(${words.join(', ')}) = ${signed32} (0x${value.toString(16)})`)],
      pause: target.lastPause,
      explain: [
        `Borrowed thread ${tid}: saved its registers, vector (x87/SSE/AVX) state and signal mask; set rip to the function, the arguments in rdi, rsi, rdx, rcx, r8, r9, and ${stubWords(path)}`,
        'When it stopped there we read the result and put everything back; an interrupted system call restarts as if nothing happened.',
      ],
    };
  },
};
