// One screen line of coloured segments, drawn in the current theme.
import { useContext } from 'react';
import { Text } from 'ink';
import { ThemeContext } from '../theme.js';
import type { StyledLine } from '../lines.js';

export function StyledText({ line }: { line: StyledLine }) {
  const theme = useContext(ThemeContext);
  if (line.length === 0 || line.every((s) => s.text === '')) return <Text> </Text>;
  return (
    <Text wrap="truncate-end">
      {line.map((seg, i) => (
        <Text key={i} {...theme[seg.role ?? 'plain']}>
          {seg.text}
        </Text>
      ))}
    </Text>
  );
}
