// Keeps package-lock.json free of URLs (registry hosts, tarball and funding links).
//
//   node tools/scrub-lockfile.mjs          rewrite the lockfile without `resolved` and `funding`
//   node tools/scrub-lockfile.mjs --check  exit 1 if the lockfile holds any URL
//
// Run it after every `npm install` that changes the lockfile. `npm ci` needs neither field:
// the project `.npmrc` makes npm omit `resolved`, and `funding` is informational only.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const lockPath = join(dirname(fileURLToPath(import.meta.url)), '..', 'package-lock.json');
const text = readFileSync(lockPath, 'utf8');
const urlPattern = /[a-z][a-z0-9+.-]*:\/\/[^\s"]+/gi;

if (process.argv.includes('--check')) {
  const found = text.match(urlPattern) ?? [];
  if (found.length > 0) {
    console.error(`package-lock.json holds ${found.length} URL(s), e.g. ${found[0]}`);
    console.error('run: node tests/js/tools/scrub-lockfile.mjs');
    process.exit(1);
  }
  console.log('package-lock.json: no URLs');
  process.exit(0);
}

const lock = JSON.parse(text);
let removed = 0;
for (const entry of Object.values(lock.packages ?? {})) {
  for (const key of ['resolved', 'funding']) {
    if (key in entry) {
      delete entry[key];
      removed += 1;
    }
  }
}
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
const left = JSON.stringify(lock).match(urlPattern) ?? [];
console.log(`package-lock.json: removed ${removed} field(s); ${left.length} URL(s) left`);
process.exit(left.length === 0 ? 0 : 1);
