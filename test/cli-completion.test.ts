import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { commandSpecs } from '../src/cli-argv.js';
import { buildConfigCli } from '../src/commands/config.js';
import { buildCronCli } from '../src/commands/cron.js';
import { buildGatewayCli } from '../src/commands/gateway.js';
import { needsPackage } from './helpers/system-package.js';
import { CLI } from './helpers/gateway.js';

const GROUPS = { gateway: buildGatewayCli(), cron: buildCronCli(), config: buildConfigCli() };

function script(shell: string): string {
  const result = spawnSync(process.execPath, [CLI, 'completion', shell], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

/** What bash offers for a command line ending in `current` (the word being completed). */
function bashOffers(words: string[]): string[] {
  const program = `${script('bash')}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _xopc; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = spawnSync('bash', ['--norc', '--noprofile', '-c', program], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.split('\n').filter(Boolean);
}

for (const shell of ['bash', 'zsh']) {
  test(`completion ${shell} names every command and every flag cac knows`, () => {
    const text = script(shell);
    for (const [group, cli] of Object.entries(GROUPS)) {
      assert.ok(text.includes(group), group);
      for (const spec of commandSpecs(cli)) {
        const name = spec.name.split(' ')[0]!;
        const line = text.split('\n').find((l) => l.includes(`"${group}:${name}")`));
        assert.ok(line, `${shell}: no entry for ${group} ${name}`);
        for (const flag of spec.flags) assert.ok(line.split(/[\s()"=]+/).includes(flag), `${shell}: ${group} ${name} lacks ${flag}: ${line}`);
      }
    }
  });
}

test('bash completes groups, commands and the flags of the command typed', { skip: needsPackage('bash', 'bash') }, () => {
  assert.deepEqual(bashOffers(['xopc', '']), ['gateway', 'cron', 'config', 'doctor', 'completion']);
  assert.deepEqual(bashOffers(['xopc', 'config', 's']), ['set']);
  assert.deepEqual(bashOffers(['xopc', 'config', 'set', '--s']), ['--string', '--stdin', '--show-secrets']);
  assert.ok(bashOffers(['xopc', 'gateway', 'st']).join(' ') === 'status stop');
  assert.deepEqual(bashOffers(['xopc', 'gateway', 'stop', '--']), ['--force', '--timeout', '--json', '--config', '--help', '--version']);
  assert.deepEqual(bashOffers(['xopc', 'cron', 'add', '--chat']), ['--chat-id']);
  assert.deepEqual(bashOffers(['xopc', 'gateway', '--port', '0', '--to']), ['--token']);
});

/** What zsh offers, with compadd stubbed to print its words (outside a widget, `words` and `CURRENT` are plain variables). */
function zshOffers(words: string[]): string[] {
  const program = `compdef() { :; }\ncompadd() { shift; print -l -- "$@"; }\n${script('zsh')}\nwords=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; _xopc`;
  const result = spawnSync('zsh', ['-f', '-c', program], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.split('\n').filter(Boolean);
}

test('zsh offers groups, commands and the flags of the command typed', { skip: needsPackage('zsh', 'zsh') }, () => {
  assert.deepEqual(zshOffers(['xopc', '']), ['gateway', 'cron', 'config', 'doctor', 'completion']);
  assert.deepEqual(zshOffers(['xopc', 'config', 'validate', '']), ['--json', '--config', '-h', '--help', '-v', '--version']);
  assert.ok(zshOffers(['xopc', 'gateway', '']).includes('service-status'));
  assert.deepEqual(zshOffers(['xopc', 'gateway', 'token', '']), ['--new', '--json', '--config', '-h', '--help', '-v', '--version']);
  assert.ok(zshOffers(['xopc', 'gateway', '--port', '0', '']).includes('--token'));
});

test('completion without a known shell is a usage error', () => {
  const result = spawnSync(process.execPath, [CLI, 'completion', 'fish'], { encoding: 'utf8' });
  assert.equal(result.status, 2);
  assert.match(result.stderr, /Usage: xopc completion bash\|zsh/);
});
