// The status bar: the attached process, its threads, running or stopped, patches, the last pause, explain.
import { Text } from 'ink';
import { statusLine, type TargetStatus } from '../status.js';
import { lineLength, truncateLine } from '../lines.js';

export function StatusLine({ status, width }: { status: TargetStatus; width: number }) {
  const line = truncateLine(statusLine(status, width), width);
  const text = line.map((s) => s.text).join('');
  // One inverse bar in every theme: colours inside a reversed bar would turn into backgrounds.
  return (
    <Text inverse wrap="truncate-end">
      {text + ' '.repeat(Math.max(0, width - lineLength(line)))}
    </Text>
  );
}
