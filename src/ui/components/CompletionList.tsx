// The candidates Tab found, under the prompt: at most a few rows, then how many more there are.
import type { StyledLine } from '../lines.js';
import { StyledText } from './StyledText.js';

/** Room kept on the last row for "… +N more". */
const MORE_ROOM = 20;

/** Candidates laid out in rows of the width, at most maxRows of them; `paths` show their last part, as a shell lists them. */
export function completionRows(items: readonly string[], more: boolean, width: number, maxRows: number, paths = false): StyledLine[] {
  if (items.length === 0) return [[{ text: '  no completions', role: 'dim' }]];
  const rows: string[] = [''];
  let shown = 0;
  for (const item of items) {
    const cell = '  ' + (paths ? lastPart(item) : item);
    const onLastRow = rows.length === maxRows;
    const room = onLastRow ? width - MORE_ROOM : width;
    if (rows[rows.length - 1]!.length + cell.length <= room || rows[rows.length - 1] === '') {
      rows[rows.length - 1] += cell;
      shown++;
    } else if (!onLastRow) {
      rows.push(cell);
      shown++;
    } else break;
  }
  const hidden = items.length - shown;
  const lines: StyledLine[] = rows.map((r) => [{ text: r, role: 'key' }]);
  if (hidden > 0 || more) lines[lines.length - 1]!.push({ text: `  … +${hidden}${more ? ' or more' : ''} more`, role: 'dim' });
  return lines;
}

/** A path's last part (`dir/` for a directory): the directories before it are on the prompt already. */
function lastPart(item: string): string {
  const slash = item.lastIndexOf('/', item.length - 2);
  return slash >= 0 ? item.slice(slash + 1) : item;
}

export function CompletionList({ rows }: { rows: readonly StyledLine[] }) {
  return (
    <>
      {rows.map((line, i) => (
        <StyledText key={i} line={line} />
      ))}
    </>
  );
}
