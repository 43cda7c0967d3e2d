// docs/errors.md as text, rendered from the table of error codes (scripts/errors-doc.mjs writes it).
import { ERRORS, ERROR_GROUPS, errorInfo, type ErrorCode } from './table.js';

/** A table cell: pipes escaped, so a hint with `a | b` stays in its column. */
const cell = (text: string) => text.replace(/\|/g, '\\|');

export function errorsMarkdown(): string {
  const codes = Object.keys(ERRORS) as ErrorCode[];
  const out = [
    '# Error codes',
    '',
    '<!-- Generated from src/errors/table.ts by `npm run docs:errors`: edit the table, not this file. -->',
    '',
    'Every error hotpatch reports has one of these codes (`error.code` in `--json` output), a message saying what',
    'happened where, and a hint. The hint below is the one shown when the place that failed gives none.',
    `${codes.length} codes.`,
  ];
  for (const [group, title] of Object.entries(ERROR_GROUPS)) {
    const inGroup = codes.filter((c) => errorInfo(c).group === group);
    if (inGroup.length === 0) continue;
    out.push('', `## ${title}`, '', '| code | meaning | hint |', '| --- | --- | --- |');
    for (const code of inGroup) {
      const { meaning, hint } = errorInfo(code);
      out.push(`| \`${code}\` | ${cell(meaning)} | ${hint ? cell(hint) : ''} |`);
    }
  }
  return out.join('\n') + '\n';
}
