// Removes dist/ before a build, so that the compiled copy of a deleted source file (a test
// above all, which `node --test dist/test/*.test.js` would still run) cannot outlive it.
import { rmSync } from 'node:fs';
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
