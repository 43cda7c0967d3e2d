// How each role looks: colours on a colour terminal, only bold and inverse when NO_COLOR is set or output is not a terminal.
import { createContext } from 'react';
import type { Role } from './lines.js';

export interface Look {
  color?: string;
  bold?: boolean;
  dimColor?: boolean;
  inverse?: boolean;
}

export type Theme = Record<Role, Look>;

export const COLOUR_THEME: Theme = {
  plain: {},
  dim: { dimColor: true },
  heading: { color: 'cyan', bold: true },
  ok: { color: 'green' },
  warn: { color: 'yellow' },
  error: { color: 'red', bold: true },
  echo: { color: 'magenta', bold: true },
  cursor: { inverse: true },
  tableHead: { bold: true, color: 'blue' },
  key: { color: 'cyan' },
  explain: { color: 'cyan', dimColor: true },
  address: { color: 'blue' },
  byte: { color: 'white' },
  zeroByte: { dimColor: true },
  ascii: { color: 'green' },
  mnemonic: { color: 'yellow' },
  branch: { color: 'magenta', bold: true },
  operand: { color: 'white' },
  comment: { color: 'green' },
  pc: { color: 'yellow', inverse: true, bold: true },
};

/** No colour, no dimming: only what NO_COLOR allows (bold, inverse) where meaning depends on it. */
export const PLAIN_THEME: Theme = Object.fromEntries(
  Object.entries(COLOUR_THEME).map(([role, look]) => [role, { bold: look.bold, inverse: look.inverse }]),
) as Theme;

export const ThemeContext = createContext<Theme>(PLAIN_THEME);

/** Colour only on a terminal, and never with NO_COLOR or --no-color. */
export function wantsColour(optionColour: boolean, stdoutIsTty: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  return optionColour && stdoutIsTty && !env.NO_COLOR && env.FORCE_COLOR !== '0';
}
