// Writes docs/errors.md from the table of error codes (src/errors/table.ts, compiled into dist/ by npm run build).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { errorsMarkdown } = await import(new URL('../dist/src/errors/doc.js', import.meta.url).href);
writeFileSync(join(root, 'docs', 'errors.md'), errorsMarkdown());
console.log('wrote docs/errors.md');
