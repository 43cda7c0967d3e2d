// The output area: the window of result lines that fits, with a marker row where lines are hidden above or below.
import { Box } from 'ink';
import type { StyledLine } from '../lines.js';
import type { Viewport } from '../view.js';
import { StyledText } from './StyledText.js';

interface Props {
  lines: readonly StyledLine[];
  port: Viewport;
  height: number;
}

export function OutputView({ lines, port, height }: Props) {
  const shown = lines.slice(port.start, port.end);
  return (
    <Box flexDirection="column" height={height} justifyContent="flex-end" overflow="hidden">
      {port.above > 0 && <StyledText line={[{ text: `↑ ${port.above} more line${port.above === 1 ? '' : 's'} above · PgUp`, role: 'dim' }]} />}
      {shown.map((line, i) => (
        <StyledText key={port.start + i} line={line} />
      ))}
      {port.below > 0 && <StyledText line={[{ text: `↓ ${port.below} more line${port.below === 1 ? '' : 's'} below · PgDn`, role: 'warn' }]} />}
    </Box>
  );
}
