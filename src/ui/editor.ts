// The prompt's line editor: text and cursor, changed only by pure functions (readline's keys, without its stream).

export interface Editor {
  text: string;
  /** Index in text, 0..text.length. */
  cursor: number;
}

export const emptyEditor: Editor = { text: '', cursor: 0 };

export const editorAt = (text: string): Editor => ({ text, cursor: text.length });

export function insertText(e: Editor, s: string): Editor {
  return { text: e.text.slice(0, e.cursor) + s + e.text.slice(e.cursor), cursor: e.cursor + s.length };
}

export function deleteBack(e: Editor): Editor {
  if (e.cursor === 0) return e;
  return { text: e.text.slice(0, e.cursor - 1) + e.text.slice(e.cursor), cursor: e.cursor - 1 };
}

export function deleteForward(e: Editor): Editor {
  if (e.cursor >= e.text.length) return e;
  return { text: e.text.slice(0, e.cursor) + e.text.slice(e.cursor + 1), cursor: e.cursor };
}

export const moveLeft = (e: Editor): Editor => ({ ...e, cursor: Math.max(0, e.cursor - 1) });
export const moveRight = (e: Editor): Editor => ({ ...e, cursor: Math.min(e.text.length, e.cursor + 1) });
export const moveHome = (e: Editor): Editor => ({ ...e, cursor: 0 });
export const moveEnd = (e: Editor): Editor => ({ ...e, cursor: e.text.length });

/** Ctrl-U: drop everything before the cursor. */
export const killToStart = (e: Editor): Editor => ({ text: e.text.slice(e.cursor), cursor: 0 });

/** Ctrl-K: drop everything after the cursor. */
export const killToEnd = (e: Editor): Editor => ({ text: e.text.slice(0, e.cursor), cursor: e.cursor });

/** Ctrl-W: drop the word before the cursor and the blanks after it, as a shell does. */
export function killWordBack(e: Editor): Editor {
  let i = e.cursor;
  while (i > 0 && /\s/.test(e.text[i - 1]!)) i--;
  while (i > 0 && !/\s/.test(e.text[i - 1]!)) i--;
  return { text: e.text.slice(0, i) + e.text.slice(e.cursor), cursor: i };
}

/** Replace text[from, to) and put the cursor after the replacement. */
export function replaceRange(e: Editor, from: number, to: number, s: string): Editor {
  return { text: e.text.slice(0, from) + s + e.text.slice(to), cursor: from + s.length };
}
