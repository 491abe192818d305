// Keeps bench/node/package-lock.json free of URLs: drops every `resolved` and `funding`
// field (npm ci needs neither). `--check` only reports, exit 1 when a URL is left.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const path = join(dirname(fileURLToPath(import.meta.url)), 'package-lock.json');
const urls = (text) => text.match(/[a-z][a-z0-9+.-]*:\/\/[^\s"]+/gi) ?? [];

if (process.argv.includes('--check')) {
  const found = urls(readFileSync(path, 'utf8'));
  console.log(found.length === 0 ? 'bench/node lockfile: no URLs' : `bench/node lockfile: ${found.length} URL(s)`);
  process.exit(found.length === 0 ? 0 : 1);
}

const lock = JSON.parse(readFileSync(path, 'utf8'));
for (const entry of Object.values(lock.packages ?? {})) {
  delete entry.resolved;
  delete entry.funding;
}
const text = `${JSON.stringify(lock, null, 2)}\n`;
writeFileSync(path, text);
const left = urls(text);
console.log(`bench/node lockfile: ${left.length} URL(s) left`);
process.exit(left.length === 0 ? 0 : 1);
