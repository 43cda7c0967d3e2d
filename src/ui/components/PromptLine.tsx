// The prompt: the line being edited with its cursor (scrolled sideways when long), or the Ctrl-R search.
import type { Editor } from '../editor.js';
import type { ConsoleState } from '../state.js';
import { PROMPT, type StyledLine } from '../lines.js';
import { StyledText } from './StyledText.js';

interface Props {
  editor: Editor;
  search?: ConsoleState['search'];
  history: readonly string[];
  width: number;
}

export function PromptLine({ editor, search, history, width }: Props) {
  if (search) {
    const label = `(${search.failed ? 'failing ' : ''}reverse-i-search)'${search.query}': `;
    const match = search.index !== undefined ? history[search.index]! : '';
    return <StyledText line={[{ text: label, role: search.failed ? 'warn' : 'echo' }, ...withCursor(match, match.length, width - label.length)]} />;
  }
  return <StyledText line={[{ text: PROMPT, role: 'echo' }, ...withCursor(editor.text, editor.cursor, width - PROMPT.length)]} />;
}

/** The part of the text around the cursor that fits in `room` columns, the cursor cell shown reversed. */
function withCursor(text: string, cursor: number, room: number): StyledLine {
  const fit = Math.max(1, room - 1);
  const from = cursor >= fit ? cursor - fit + 1 : 0;
  const visible = text.slice(from, from + fit + 1);
  const at = cursor - from;
  return [{ text: visible.slice(0, at) }, { text: visible[at] ?? ' ', role: 'cursor' }, { text: visible.slice(at + 1, fit) }];
}

